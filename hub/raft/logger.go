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

package raft

import (
	"bytes"
	"io"
	"log"

	"github.com/go-logr/logr"
	"github.com/hashicorp/go-hclog"
)

// hclogAdapter sends hashicorp/raft's hclog output to the hub's logr logger: Error and
// Warn as errors and info, Info as info, Debug at V(1) and Trace at V(2).
type hclogAdapter struct {
	log     logr.Logger
	name    string
	implied []any
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l logr.Logger) hclog.Logger { return &hclogAdapter{log: l} }

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	switch level {
	case hclog.Trace:
		h.log.V(2).Info(msg, args...)
	case hclog.Debug:
		h.log.V(1).Info(msg, args...)
	case hclog.Warn:
		h.log.Info(msg, append(args, "level", "warn")...)
	case hclog.Error:
		rest, err := splitError(args)
		h.log.Error(err, msg, rest...)
	case hclog.Off:
	default:
		h.log.Info(msg, args...)
	}
}

// splitError takes the value of an "error" key out of hclog's key/value pairs.
func splitError(args []any) (rest []any, err error) {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "error" || k == "err" {
			if e, ok := args[i+1].(error); ok {
				return append(append([]any{}, args[:i]...), args[i+2:]...), e
			}
		}
	}
	return args, nil
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) IsTrace() bool { return h.log.V(2).Enabled() }
func (h *hclogAdapter) IsDebug() bool { return h.log.V(1).Enabled() }
func (h *hclogAdapter) IsInfo() bool  { return h.log.Enabled() }
func (h *hclogAdapter) IsWarn() bool  { return h.log.Enabled() }
func (h *hclogAdapter) IsError() bool { return true }

func (h *hclogAdapter) ImpliedArgs() []any { return h.implied }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	return &hclogAdapter{log: h.log.WithValues(args...), name: h.name,
		implied: append(append([]any{}, h.implied...), args...)}
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	full := name
	if h.name != "" {
		full = h.name + "." + name
	}
	return &hclogAdapter{log: h.log.WithName(name), name: full, implied: h.implied}
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return &hclogAdapter{log: h.log.WithName(name), name: name, implied: h.implied}
}

// SetLevel does nothing: the logr logger's verbosity decides.
func (h *hclogAdapter) SetLevel(hclog.Level) {}

func (h *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	default:
		return hclog.Info
	}
}

func (h *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.log.Info(string(bytes.TrimRight(p, "\n")))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
