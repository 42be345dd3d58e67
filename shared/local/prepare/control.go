package prepare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"flashsale/shared/flashsale"
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

// NewControl serves GET /schedules (every schedule, by time), GET
// /provisioned (the current value and every change), and POST /invoke, which
// runs a schedule's target now with the flashsale.Schedule in its body.
func NewControl(s *Scheduler, r *Recorder, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invoke", func(w http.ResponseWriter, req *http.Request) {
		var sc flashsale.Schedule
		dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sc); err != nil || sc.SaleID == "" {
			http.Error(w, "the body must be a schedule: {\"name\",\"saleId\",\"job\",\"at\"}", http.StatusBadRequest)
			return
		}
		result, err := s.Invoke(req.Context(), sc)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		writeJSON(w, result)
	})
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

// Invoke runs a schedule's target in the stack (POST /invoke) and returns
// its result's JSON.
func (c *Client) Invoke(ctx context.Context, sc flashsale.Schedule) (json.RawMessage, error) {
	body, err := json.Marshal(sc)
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	return out, c.do(ctx, http.MethodPost, "/invoke", body, &out)
}

// Provisioned reads GET /provisioned.
func (c *Client) Provisioned(ctx context.Context) (Provisioned, error) {
	var out Provisioned
	return out, c.get(ctx, "/provisioned", &out)
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
		if method == http.MethodPost {
			// A remind run may take minutes (it is paced), up to the
			// notifier function's 15.
			hc.Timeout = 15 * time.Minute
		}
	}
	url := strings.TrimRight(c.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
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
		return fmt.Errorf("control port: %s %s: %w", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control port: %s %s answered %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("control port: %s %s: %w", method, url, err)
	}
	return nil
}
