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
	"strings"
	"time"
)

// startUntilReady starts the process that build describes and waits for ready. If the
// process dies because one of its ports was taken in the meantime (another program on the
// machine may grab a port between FreePort and the bind), it builds a new spec with new
// ports and tries again, up to three times. A process that fails otherwise is stopped and
// its error carries the end of its log. onStart, if not nil, sees every process started.
func startUntilReady(ctx context.Context, what string, timeout time.Duration,
	build func() (ProcessSpec, error), onStart func(*Process), ready Condition) (*Process, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		spec, err := build()
		if err != nil {
			return nil, err
		}
		proc, err := StartProcess(spec)
		if err != nil {
			return nil, err
		}
		if onStart != nil {
			onStart(proc)
		}
		err = WaitFor(ctx, what+" ready", timeout, untilExit(proc, ready))
		if err == nil {
			return proc, nil
		}
		_ = proc.Stop(context.WithoutCancel(ctx))
		lastErr = err
		if !strings.Contains(proc.LogTail(40), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

// untilExit wraps cond so that the wait ends at once, with the end of the log, if the
// process exits.
func untilExit(p *Process, cond Condition) Condition {
	return func(ctx context.Context) (bool, string, error) {
		if exited, _ := p.Exited(); exited {
			return false, "", p.exitError()
		}
		return cond(ctx)
	}
}
