/**
 * gRPC server reflection, both grpc.reflection.v1 and grpc.reflection.v1alpha, so that grpcurl,
 * buf curl and similar clients can discover the server's schema. One implementation serves both
 * versions, because their messages differ only in package name.
 *
 * @module
 */
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";

import { ServerReflection as ServerReflectionV1 } from "../../gen/ts/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";

/** Options of {@link registerReflection}. */
export interface ReflectionOptions {
  /**
   * Services that list_services returns and whose files, with all their imports, the reflection
   * service describes. Both reflection services are added even when they are not in this list.
   */
  readonly services: readonly DescService[];
  /**
   * Further files to describe, such as those of the error detail messages the services send, so
   * that clients can decode the details by name. Their imports are included too.
   */
  readonly files?: readonly DescFile[];
}

/**
 * Registers grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection on
 * the router. The file descriptors are serialized once, here, and shared by every stream.
 *
 * Each stream sends one response per request, in order, until the client ends the stream. A
 * request for an unknown file, symbol or extension gets an error_response with NOT_FOUND, and the
 * stream stays open. A file_descriptor_response contains the requested file first, then those of
 * its transitive imports that this stream has not sent yet.
 */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions): ConnectRouter {
  const index = createReflectionIndex([...options.services, ServerReflectionV1, ServerReflectionV1alpha], options.files ?? []);

  router.service(ServerReflectionV1, {
    serverReflectionInfo: (requests) => respondToRequests(index, requests),
  });
  router.service(ServerReflectionV1alpha, {
    serverReflectionInfo: (requests) => respondToRequests(index, requests),
  });
  return router;
}

/** A ServerReflectionRequest of either protocol version. */
interface ReflectionRequest {
  readonly host: string;
  readonly messageRequest:
    | {
        readonly case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
        readonly value: string;
      }
    | {
        readonly case: "fileContainingExtension";
        readonly value: { readonly containingType: string; readonly extensionNumber: number };
      }
    | { readonly case: undefined; readonly value?: undefined };
}

/** The message_response oneof of a ServerReflectionResponse, in either protocol version. */
type MessageResponse =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** A described .proto file with its serialized FileDescriptorProto. */
interface FileEntry {
  /** Path of the .proto file, such as "google/protobuf/timestamp.proto". */
  readonly name: string;
  readonly serialized: Uint8Array;
  /** Transitive imports, breadth-first, each once, without the file itself. */
  readonly imports: FileEntry[];
}

/** Lookup tables built once from the described services. */
interface ReflectionIndex {
  readonly serviceNames: readonly string[];
  readonly filesByName: ReadonlyMap<string, FileEntry>;
  /** Files by fully-qualified name of each service, method, message, field, oneof, enum, enum value and extension. */
  readonly filesBySymbol: ReadonlyMap<string, FileEntry>;
  /** Files by extension key, see {@link extensionKey}. */
  readonly filesByExtension: ReadonlyMap<string, FileEntry>;
  /** Extension numbers by fully-qualified message name, with an empty list for each message that has none. */
  readonly extensionNumbersByType: ReadonlyMap<string, number[]>;
}

/** Yields one response per request of a reflection stream, in order, until the client ends the stream. */
async function* respondToRequests<Request extends ReflectionRequest>(
  index: ReflectionIndex,
  requests: AsyncIterable<Request>,
) {
  const sentFiles = new Set<string>();
  for await (const request of requests) {
    yield {
      validHost: request.host,
      originalRequest: request,
      messageResponse: createMessageResponse(index, request, sentFiles),
    };
  }
}

function createMessageResponse(
  index: ReflectionIndex,
  request: ReflectionRequest,
  sentFiles: Set<string>,
): MessageResponse {
  const messageRequest = request.messageRequest;
  switch (messageRequest.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: { service: index.serviceNames.map((name) => ({ name })) },
      };

    case "fileByFilename": {
      const file = index.filesByName.get(messageRequest.value);
      if (file === undefined) {
        return errorResponse(
          Code.NotFound,
          `file "${messageRequest.value}" not found. ` +
            "This server describes only the files of its services and their imports.",
        );
      }
      return describeFile(file, sentFiles);
    }

    case "fileContainingSymbol": {
      const file = index.filesBySymbol.get(messageRequest.value);
      if (file === undefined) {
        return errorResponse(
          Code.NotFound,
          `symbol "${messageRequest.value}" not found. ` +
            'Give a fully-qualified name without a leading dot, such as "grpc.health.v1.Health".',
        );
      }
      return describeFile(file, sentFiles);
    }

    case "fileContainingExtension": {
      const { containingType, extensionNumber } = messageRequest.value;
      const file = index.filesByExtension.get(extensionKey(containingType, extensionNumber));
      if (file === undefined) {
        return errorResponse(Code.NotFound, `extension ${extensionNumber} of message "${containingType}" not found`);
      }
      return describeFile(file, sentFiles);
    }

    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersByType.get(messageRequest.value);
      if (numbers === undefined) {
        return errorResponse(Code.NotFound, `message type "${messageRequest.value}" not found`);
      }
      return {
        case: "allExtensionNumbersResponse",
        value: { baseTypeName: messageRequest.value, extensionNumber: [...numbers] },
      };
    }

    case undefined:
      return errorResponse(
        Code.InvalidArgument,
        "request has no message_request. Set one of file_by_filename, file_containing_symbol, " +
          "file_containing_extension, all_extension_numbers_of_type or list_services.",
      );
  }
}

/** Builds a file_descriptor_response: the file itself, then its imports not yet sent on this stream. */
function describeFile(file: FileEntry, sentFiles: Set<string>): MessageResponse {
  const unsentImports = file.imports.filter((imported) => !sentFiles.has(imported.name));
  const files = [file, ...unsentImports];
  for (const sent of files) {
    sentFiles.add(sent.name);
  }
  return {
    case: "fileDescriptorResponse",
    value: { fileDescriptorProto: files.map((sent) => sent.serialized) },
  };
}

function errorResponse(code: Code, message: string): MessageResponse {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

function createReflectionIndex(services: readonly DescService[], extraFiles: readonly DescFile[]): ReflectionIndex {
  const serviceNames = [...new Set(services.map((service) => service.typeName))];
  const descFiles = collectFiles([...services.map((service) => service.file), ...extraFiles]);
  const filesByName = createFileEntries(descFiles);

  const filesBySymbol = new Map<string, FileEntry>();
  const filesByExtension = new Map<string, FileEntry>();
  const extensionNumbersByType = new Map<string, number[]>();
  for (const descFile of descFiles) {
    const file = entryOf(filesByName, descFile);
    indexSymbols(descFile, file, filesBySymbol);
    indexExtensions(descFile, file, filesByExtension, extensionNumbersByType);
  }
  for (const numbers of extensionNumbersByType.values()) {
    numbers.sort((a, b) => a - b);
  }

  return { serviceNames, filesByName, filesBySymbol, filesByExtension, extensionNumbersByType };
}

/** Collects the given files and all their transitive imports, each once, breadth-first. */
function collectFiles(roots: readonly DescFile[]): DescFile[] {
  const files = new Map<string, DescFile>();
  const queue = [...roots];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (!files.has(file.proto.name)) {
      files.set(file.proto.name, file);
      queue.push(...file.dependencies);
    }
  }
  return [...files.values()];
}

/** Serializes each file once and links each entry to the entries of its transitive imports. */
function createFileEntries(descFiles: readonly DescFile[]): Map<string, FileEntry> {
  const entries = new Map<string, FileEntry>();
  for (const descFile of descFiles) {
    entries.set(descFile.proto.name, {
      name: descFile.proto.name,
      serialized: toBinary(FileDescriptorProtoSchema, descFile.proto),
      imports: [],
    });
  }
  for (const descFile of descFiles) {
    const imported = collectFiles(descFile.dependencies).filter((file) => file !== descFile);
    entryOf(entries, descFile).imports.push(...imported.map((file) => entryOf(entries, file)));
  }
  return entries;
}

function entryOf(entries: ReadonlyMap<string, FileEntry>, descFile: DescFile): FileEntry {
  const entry = entries.get(descFile.proto.name);
  if (entry === undefined) {
    throw new Error(
      `reflection index has no entry for file "${descFile.proto.name}", although collectFiles returned it`,
    );
  }
  return entry;
}

/**
 * Maps every fully-qualified name that the file declares to the file. Enum values are scoped like
 * their enum's siblings, as in protobuf: the value ROLE_ADMIN of enum red5.token.v1.Role is
 * red5.token.v1.ROLE_ADMIN. A name that an earlier file already declared keeps that file.
 */
function indexSymbols(descFile: DescFile, file: FileEntry, filesBySymbol: Map<string, FileEntry>): void {
  const add = (name: string) => {
    if (!filesBySymbol.has(name)) {
      filesBySymbol.set(name, file);
    }
  };

  for (const type of nestedTypes(descFile)) {
    add(type.typeName);
    switch (type.kind) {
      case "service":
        type.methods.forEach((method) => add(`${type.typeName}.${method.name}`));
        break;
      case "message":
        type.fields.forEach((field) => add(`${type.typeName}.${field.name}`));
        type.oneofs.forEach((oneof) => add(`${type.typeName}.${oneof.name}`));
        break;
      case "enum": {
        const scope = type.parent?.typeName ?? descFile.proto.package;
        type.values.forEach((value) => add(scope === "" ? value.name : `${scope}.${value.name}`));
        break;
      }
      case "extension":
        break;
    }
  }
}

/** Records the extensions that the file declares, and each message it declares as a possible extendee. */
function indexExtensions(
  descFile: DescFile,
  file: FileEntry,
  filesByExtension: Map<string, FileEntry>,
  extensionNumbersByType: Map<string, number[]>,
): void {
  for (const type of nestedTypes(descFile)) {
    if (type.kind === "message" && !extensionNumbersByType.has(type.typeName)) {
      extensionNumbersByType.set(type.typeName, []);
    }
  }
  for (const type of nestedTypes(descFile)) {
    if (type.kind !== "extension") {
      continue;
    }
    const key = extensionKey(type.extendee.typeName, type.number);
    if (filesByExtension.has(key)) {
      continue;
    }
    filesByExtension.set(key, file);
    const numbers = extensionNumbersByType.get(type.extendee.typeName) ?? [];
    numbers.push(type.number);
    extensionNumbersByType.set(type.extendee.typeName, numbers);
  }
}

/** Joins an extendee's name and an extension number into one map key. Type names never contain ":". */
function extensionKey(extendee: string, extensionNumber: number): string {
  return `${extendee}:${extensionNumber}`;
}
