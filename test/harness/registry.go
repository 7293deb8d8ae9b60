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

package harness

import (
	"context"
	"errors"
	"sync"
)

// registry tracks every child this package started and has not reaped yet, and the
// extra stop functions (envtest) that an interrupt must run.
var registry = struct {
	sync.Mutex
	procs    map[*Process]struct{}
	stoppers map[int]func()
	nextID   int
}{procs: map[*Process]struct{}{}, stoppers: map[int]func(){}}

func register(p *Process) {
	registry.Lock()
	defer registry.Unlock()
	registry.procs[p] = struct{}{}
}

func unregister(p *Process) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.procs, p)
}

// Running lists every process started by this package that has not been reaped yet.
func Running() []*Process {
	registry.Lock()
	defer registry.Unlock()
	out := make([]*Process, 0, len(registry.procs))
	for p := range registry.procs {
		out = append(out, p)
	}
	return out
}

// StopProcesses stops the given processes concurrently and waits for all of them.
func StopProcesses(ctx context.Context, procs []*Process) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Go(func() { errs[i] = p.Stop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// onInterrupt registers f to run when HandleSignals catches a signal; the returned func
// unregisters it.
func onInterrupt(f func()) (remove func()) {
	registry.Lock()
	defer registry.Unlock()
	id := registry.nextID
	registry.nextID++
	registry.stoppers[id] = f
	return func() {
		registry.Lock()
		defer registry.Unlock()
		delete(registry.stoppers, id)
	}
}
