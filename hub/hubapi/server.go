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

package hubapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/raft"
)

// NewHandler serves the API from the node: its raft state and its replica of the journal.
func NewHandler(n *raft.Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, _ *http.Request) {
		st, err := StatusOf(n)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET "+historyPath, func(w http.ResponseWriter, r *http.Request) {
		ns, name := r.PathValue("namespace"), r.PathValue("name")
		entries := n.Journal().History(ns, name)
		if entries == nil {
			entries = []journal.Entry{}
		}
		writeJSON(w, http.StatusOK, History{Namespace: ns, Name: name, Replica: n.ID(),
			AppliedIndex: n.AppliedIndex(), Entries: entries})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no such path %s %s; the API serves GET %s and GET %s",
			r.Method, r.URL.Path, StatusPath, historyPath)})
	})
	return mux
}

// StatusOf reads the node's view of the raft group.
func StatusOf(n *raft.Node) (Status, error) {
	servers, err := n.Servers()
	if err != nil {
		return Status{}, fmt.Errorf("reading the raft configuration: %w", err)
	}
	stats := n.Stats()
	st := Status{ID: n.ID(), State: stats["state"], Term: n.Term(), CommitIndex: n.CommitIndex(),
		AppliedIndex: n.AppliedIndex(), LastContact: stats["last_contact"], JournalEntries: n.Journal().Len()}
	st.LastLogIndex, _ = strconv.ParseUint(stats["last_log_index"], 10, 64)
	if st.CommitIndex > st.AppliedIndex {
		st.Lag = st.CommitIndex - st.AppliedIndex
	}
	st.Leader.ID, st.Leader.Address = n.Leader()
	for _, s := range servers {
		st.Peers = append(st.Peers, Peer{ID: s.ID, Address: s.Address, Voter: s.Voter})
		if s.ID == st.Leader.ID {
			st.Leader.Voter = s.Voter
		}
	}
	return st, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Server is the API listening on one address.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Start listens on addr (host:port; port 0 picks a free one) and serves the API of n until
// Close.
func Start(addr string, n *raft.Node) (*Server, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hub API: listening on %s: %w", addr, err)
	}
	s := &Server{srv: &http.Server{Handler: NewHandler(n), ReadHeaderTimeout: 5 * time.Second}, ln: ln,
		done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting answers in flight finish for up to five seconds.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
