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
	"time"
)

// Condition is one look at the world during a wait. It returns done when the wait is over
// and a short description of what it saw (reported if the wait times out). A non-nil error
// ends the wait at once; fold transient errors (connection refused while a server starts)
// into seen instead.
type Condition func(ctx context.Context) (done bool, seen string, err error)

// notYet is a Condition's result for a transient error: not done, and the error is what
// was seen.
func notYet(what string, err error) (bool, string, error) {
	return false, what + ": " + err.Error(), nil
}

// WaitFor checks cond until it is done, it fails, timeout passes or ctx ends. The error
// names what was awaited and what was last seen.
func WaitFor(ctx context.Context, what string, timeout time.Duration, cond Condition) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	interval := 50 * time.Millisecond
	seen := "nothing yet"
	for {
		done, s, err := cond(ctx)
		if s != "" {
			seen = s
		}
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: gave up after %s (%w); last seen: %s",
				what, time.Since(start).Round(time.Millisecond), context.Cause(ctx), seen)
		case <-time.After(interval):
		}
		if interval < 500*time.Millisecond {
			interval = interval * 3 / 2
		}
	}
}
