/** PubNub Access Manager permission bits. */
export const PERMISSION_READ = 1;
export const PERMISSION_WRITE = 2;

/** Suffix of the presence channel that PubNub pairs with every channel. */
export const PRESENCE_SUFFIX = "-pnpres";

/** Read and write permission on one PubNub channel. */
export interface ChannelPermission {
  readonly channel: string;
  readonly read: boolean;
  readonly write: boolean;
}

/** Returns the permission on a channel and on its presence channel, in that order. */
export function channelWithPresence(channel: string, read: boolean, write: boolean): ChannelPermission[] {
  return [
    { channel, read, write },
    { channel: channel + PRESENCE_SUFFIX, read, write },
  ];
}

/** Converts read and write flags to PubNub's bitmask: read 1, write 2. */
export function permissionBits(permission: ChannelPermission): number {
  return (permission.read ? PERMISSION_READ : 0) | (permission.write ? PERMISSION_WRITE : 0);
}
