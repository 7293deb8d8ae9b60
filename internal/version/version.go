// Package version reports the build of a Flotilla binary. The Makefile stamps Version and
// Commit with -ldflags; a plain `go build` reports a development build.
package version

import (
	"fmt"
	"runtime"
)

var (
	// Version is the release, such as v0.1.0, or "dev".
	Version = "dev"
	// Commit is the git commit the binary was built from.
	Commit = "unknown"
)

// String describes the build of the named program on one line.
func String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s, %s/%s)", program, Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
