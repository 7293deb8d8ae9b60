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
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

var signalOnce sync.Once

// HandleSignals makes SIGINT and SIGTERM stop every process this package started (and
// every envtest environment) before the program dies of the signal. Test helpers install
// it; programs with their own shutdown (the fleet supervisor) do not call it. It reports
// what it did to out.
func HandleSignals(out io.Writer) {
	signalOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			fmt.Fprintf(out, "harness: caught %v, stopping %d processes\n", sig, len(Running()))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stopEverything(ctx)
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			time.Sleep(time.Second)
			os.Exit(1)
		}()
	})
}

func stopEverything(ctx context.Context) {
	registry.Lock()
	stoppers := make([]func(), 0, len(registry.stoppers))
	for _, f := range registry.stoppers {
		stoppers = append(stoppers, f)
	}
	registry.Unlock()
	var wg sync.WaitGroup
	for _, f := range stoppers {
		wg.Go(f)
	}
	wg.Go(func() { _ = StopProcesses(ctx, Running()) })
	wg.Wait()
}
