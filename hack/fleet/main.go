/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command fleet runs a local Flotilla fleet: a hub cluster and three member clusters
// (us-east, eu-west, ap-south) as real control planes on 127.0.0.1, sharing one etcd, with
// simulated (kwok) nodes. See `make fleet-up`, `make fleet-status` and `make fleet-down`.
//
//	fleet up      start the fleet in the background and wait until it is ready
//	fleet status  print each cluster, its API server URL, its nodes' readiness, its agent
//	              or hub replicas
//	fleet down    stop every process of the fleet and remove its folder
//	fleet watch   follow a FleetRollout in the hub until its revision is done
//
// Everything lives in one folder (default .fleet/ at the repo root): <cluster>.kubeconfig,
// logs/, pids (one "<pid> <binary>" per started process), supervisor.pid, and for the hub
// replicas hub-pki/ (the hub CA and each replica's peer certificate) and hub-N/ (raft data).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// superviseCommand is the hidden subcommand `up` starts in the background.
const superviseCommand = "supervise"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: fleet <command> [flags]

commands:
  up       start the local fleet in the background and wait until it is ready
  status   print each cluster, its API server URL and its nodes' readiness
  down     stop every process of the local fleet and remove its folder
  watch    follow a FleetRollout in the hub, wave by wave and cluster by cluster, until it is done

Run "fleet <command> -h" for the command's flags.
`

// run is the whole program; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("fleet "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "folder for the fleet's kubeconfigs, logs and pids (default .fleet at the repo root)")
	var err error
	switch cmd {
	case "up":
		timeout := fs.Duration("timeout", 4*time.Minute, "how long to wait for the fleet to be ready")
		if err = parse(fs, args, dir); err == nil {
			err = up(stateDir(*dir), *timeout, stdout)
		}
	case "down":
		if err = parse(fs, args, dir); err == nil {
			err = down(stateDir(*dir), stdout)
		}
	case "status":
		if err = parse(fs, args, dir); err == nil {
			err = status(stateDir(*dir), stdout)
		}
	case "watch":
		var o watchOptions
		fs.StringVar(&o.namespace, "namespace", "shop", "namespace of the FleetRollout in the hub")
		fs.StringVar(&o.name, "name", "checkout", "name of the FleetRollout")
		fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
		fs.Int64Var(&o.revision, "revision", 0, "follow this revision (0: the current one)")
		want := fs.String("want", string(fleetv1alpha1.FleetRolloutSucceeded), "the phase that ends the watch successfully")
		if err = parse(fs, args, dir); err == nil {
			o.want = fleetv1alpha1.FleetRolloutPhase(*want)
			err = watch(stateDir(*dir), o, stdout)
		}
	case superviseCommand:
		binDir := fs.String("bin-dir", "", "folder of the control-plane binaries")
		if err = parse(fs, args, dir); err == nil {
			err = supervise(stateDir(*dir), harness.Binaries{Dir: *binDir, Source: "--bin-dir"})
		}
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fleet: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleet %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// parse parses the flags and makes --dir absolute (default <repo root>/.fleet).
func parse(fs *flag.FlagSet, args []string, dir *string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *dir == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return fmt.Errorf("%w; pass --dir", err)
		}
		*dir = filepath.Join(root, ".fleet")
	}
	abs, err := filepath.Abs(*dir)
	*dir = abs
	return err
}
