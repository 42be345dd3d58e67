package prepare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The control port is the local stack's window on what AWS would show in
// the EventBridge Scheduler and Lambda consoles. It listens on a loopback
// port of its own, never on the gateway, so no API route can reach it.

// Schedules is GET /schedules.
type Schedules struct {
	// Now is the stack's clock, which the schedules are due by.
	Now       time.Time `json:"now"`
	Schedules []Entry   `json:"schedules"`
}

// NewControl serves GET /schedules (every schedule, by time) and GET
// /provisioned (the current value and every change).
func NewControl(s *Scheduler, r *Recorder, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /schedules", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, Schedules{Now: now().UTC(), Schedules: s.Entries()})
	})
	mux.HandleFunc("GET /provisioned", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, r.Provisioned())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to tell it
}

// Client reads a control port.
type Client struct {
	// URL is the control port's base URL, from stack.json's controlUrl.
	URL  string
	HTTP *http.Client // nil: a client with a 10 s timeout
}

// Schedules reads GET /schedules.
func (c *Client) Schedules(ctx context.Context) (Schedules, error) {
	var out Schedules
	return out, c.get(ctx, "/schedules", &out)
}

// Provisioned reads GET /provisioned.
func (c *Client) Provisioned(ctx context.Context) (Provisioned, error) {
	var out Provisioned
	return out, c.get(ctx, "/provisioned", &out)
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	url := strings.TrimRight(c.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("control port: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("control port: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("control port: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control port: GET %s answered %d: %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("control port: GET %s: %w", url, err)
	}
	return nil
}
