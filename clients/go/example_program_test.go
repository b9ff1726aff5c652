package red5token_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestInteropExampleProgram runs examples/go with `go run`, as a reader of the example would, and
// checks what it prints. examples/go has its own tests of its run function; this one also covers
// its main function, its flags and the TOKEN_SERVICE_ADDRESS variable.
func TestInteropExampleProgram(t *testing.T) {
	server := requireLiveServer(t)
	goCommand, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command to run the example: %v", err)
	}
	exampleDir, err := filepath.Abs(filepath.Join("..", "..", "examples", "go"))
	if err != nil {
		t.Fatalf("resolve examples/go: %v", err)
	}

	// A first `go run` compiles grpc-go and the example, which can take a minute on a cold cache.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	command := exec.CommandContext(ctx, goCommand, "run", ".", "-user", "user-8", "-room", "room-8", "-minutes", "45")
	command.Dir = exampleDir
	command.Env = append(os.Environ(), "TOKEN_SERVICE_ADDRESS="+server.address)
	var stdout, stderr bytes.Buffer
	command.Stdout = &stdout
	command.Stderr = &stderr
	started := time.Now()
	if err := command.Run(); err != nil {
		t.Fatalf("go run examples/go: %v\nstderr:\n%s", err, stderr.String())
	}
	finished := time.Now()

	wantLines := []*regexp.Regexp{
		regexp.MustCompile(`^conference token (\S{1,10})\.\.\. for user-8 in room-8 as publisher, expires (\S+)$`),
		regexp.MustCompile(`^chat token (\S{1,10})\.\.\. for user-8 on room-8, read and write, expires (\S+)$`),
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != len(wantLines) {
		t.Fatalf("example printed %d lines, want %d:\n%s", len(lines), len(wantLines), stdout.String())
	}
	for i, pattern := range wantLines {
		match := pattern.FindStringSubmatch(lines[i])
		if match == nil {
			t.Errorf("line %d = %q, want it to match %s", i+1, lines[i], pattern)
			continue
		}
		expires, err := time.Parse(time.RFC3339, match[2])
		if err != nil {
			t.Errorf("line %d expiry %q is not RFC 3339: %v", i+1, match[2], err)
			continue
		}
		issued := expires.Add(-45 * time.Minute)
		if issued.Before(started.Add(-clockTolerance)) || issued.After(finished.Add(clockTolerance)) {
			t.Errorf("line %d expiry %s is not 45 minutes after a time between the start of go run (%s) and its end (%s)",
				i+1, match[2], started.UTC().Format(time.RFC3339), finished.UTC().Format(time.RFC3339))
		}
	}
}
