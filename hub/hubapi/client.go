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
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// EnvHub is the environment variable that names the hub API when no --hub flag does.
const EnvHub = "FLOTILLA_HUB"

// ParseAddresses reads a list of replica addresses, comma-separated, each host:port or an
// http:// or https:// URL, and returns them as base URLs.
func ParseAddresses(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("hub address %q: want host:port or an http:// URL", a)
			}
			a = "http://" + a
		}
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("hub address %q: want host:port or an http:// URL", a)
		}
		out = append(out, strings.TrimSuffix(u.String(), "/"))
	}
	if len(out) == 0 {
		return nil, errors.New("no hub address: pass --hub HOST:PORT[,HOST:PORT...] or set " + EnvHub +
			" (the local fleet writes it to .fleet/hub)")
	}
	return out, nil
}

// Client reads the API of one or more replicas.
type Client struct {
	// Addrs are the replicas' base URLs (ParseAddresses).
	Addrs []string
	// HTTP is the client used; nil means one with a 10 s timeout.
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Status reads the status of the replica at addr (one of Addrs).
func (c *Client) Status(ctx context.Context, addr string) (Status, error) {
	var st Status
	return st, c.get(ctx, addr, StatusPath, &st)
}

// History reads the journal of a FleetRollout from the first replica that answers; every
// replica holds the journal.
func (c *Client) History(ctx context.Context, namespace, name string) (History, error) {
	var errs []error
	for _, addr := range c.Addrs {
		var h History
		err := c.get(ctx, addr, HistoryPath(url.PathEscape(namespace), url.PathEscape(name)), &h)
		if err == nil {
			return h, nil
		}
		errs = append(errs, err)
	}
	return History{}, errors.Join(errs...)
}

func (c *Client) get(ctx context.Context, addr, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("hub API at %s: %w", addr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("hub API at %s: reading the answer: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("hub API at %s: %s: %s", addr, resp.Status, e.Error)
		}
		return fmt.Errorf("hub API at %s: %s", addr, resp.Status)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("hub API at %s: decoding the answer: %w", addr, err)
	}
	return nil
}
