// Command testsum reads `go test -json` on stdin and prints what a person wants from a long
// run: one line per package, the full output of every failed test, the name of every skipped
// one, and a closing summary line "test: N passed, N failed, N skipped". It exits 1 when any
// test or package failed, or when no test ran.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
	Elapsed    float64
}

type tally struct {
	passed, failed, skipped int
	failedPkgs              []string
	skippedTests            []string
}

func main() {
	start := time.Now()
	t := summarize(os.Stdin, os.Stdout)
	fmt.Printf("\ntest: %d passed, %d failed, %d skipped in %s\n", t.passed, t.failed, t.skipped, time.Since(start).Round(time.Second))
	if t.failed > 0 || len(t.failedPkgs) > 0 || t.passed == 0 {
		os.Exit(1)
	}
}

func summarize(in io.Reader, out io.Writer) tally {
	var t tally
	outputs := map[string][]string{} // package/test -> output lines, kept until the verdict
	build := map[string][]string{}   // import path -> build output
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(out, string(line))
			continue
		}
		key := e.Package + "/" + e.Test
		switch e.Action {
		case "build-output":
			build[e.ImportPath] = append(build[e.ImportPath], e.Output)
		case "build-fail":
			fmt.Fprintf(out, "BUILD FAIL %s\n%s", e.ImportPath, strings.Join(build[e.ImportPath], ""))
		case "output":
			outputs[key] = append(outputs[key], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				t.pkgDone(out, e, outputs[key])
			} else {
				t.testDone(out, e, outputs[key])
			}
			delete(outputs, key)
		}
	}
	if len(t.skippedTests) > 0 {
		sort.Strings(t.skippedTests)
		fmt.Fprintf(out, "\nskipped (a skipped test checks nothing; fix or remove it):\n  %s\n", strings.Join(t.skippedTests, "\n  "))
	}
	if len(t.failedPkgs) > 0 {
		fmt.Fprintf(out, "\nfailed packages:\n  %s\n", strings.Join(t.failedPkgs, "\n  "))
	}
	return t
}

func (t *tally) testDone(out io.Writer, e event, output []string) {
	switch e.Action {
	case "pass":
		t.passed++
	case "skip":
		t.skipped++
		t.skippedTests = append(t.skippedTests, e.Package+"."+e.Test)
	case "fail":
		t.failed++
		fmt.Fprintf(out, "--- FAIL %s.%s (%.1fs)\n%s", e.Package, e.Test, e.Elapsed, strings.Join(output, ""))
	}
}

func (t *tally) pkgDone(out io.Writer, e event, output []string) {
	switch e.Action {
	case "pass":
		fmt.Fprintf(out, "ok   %s %.1fs\n", e.Package, e.Elapsed)
	case "skip":
		// A package with no test files.
	case "fail":
		t.failedPkgs = append(t.failedPkgs, e.Package)
		fmt.Fprintf(out, "FAIL %s %.1fs\n%s", e.Package, e.Elapsed, strings.Join(output, ""))
	}
}
