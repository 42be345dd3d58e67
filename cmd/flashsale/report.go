package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
	"flashsale/shared/client"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/reportfmt"
)

func init() { rootCmd.AddCommand(newReportCmd()) }

// Report output formats.
const (
	formatTable = "table"
	formatCSV   = "csv"
	formatJSON  = "json"
)

// reportOptions are the flags of `flashsale report`.
type reportOptions struct {
	state, target string
	sale          string
	format        string
	out           string
	settle        bool
}

func newReportCmd() *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print a sale's settlement report (table, CSV or JSON) from the local gateway",
		Long: `Fetches the latest settlement report of a sale through the gateway with a
finance token, and prints it as a table (the default), CSV (RFC 4180, one row
per order and a TOTAL row) or indented JSON. --settle runs settlement first
(with an admin token), so the report is fresh.

  flashsale report --sale demo --settle
  flashsale report --sale demo --format csv --out demo.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.sale, "sale", "", "sale id")
	f.StringVar(&o.format, "format", formatTable, "output format: table, csv or json")
	f.StringVar(&o.out, "out", "", "write to this file (atomically) instead of stdout")
	f.BoolVar(&o.settle, "settle", false, "run settlement first (needs an admin token, minted from the state folder)")
	targetFlag(f.StringVar, &o.target)
	_ = cmd.MarkFlagRequired("sale")
	return cmd
}

func runReport(ctx context.Context, o reportOptions, stdout io.Writer) error {
	var render func(io.Writer, flashsale.Report) error
	switch o.format {
	case formatTable:
		render = reportfmt.WriteTable
	case formatCSV:
		render = reportfmt.WriteCSV
	case formatJSON:
		render = writeJSON
	default:
		return fmt.Errorf("--format %q: want table, csv or json", o.format)
	}
	if !flashsale.ValidID(o.sale) {
		return fmt.Errorf("--sale %q: want 1-64 characters of [A-Za-z0-9_-]", o.sale)
	}
	gw, err := openAPI(o.state, o.target)
	if err != nil {
		return err
	}
	if o.settle {
		status, body, err := gw.call(ctx, http.MethodPost, "/admin/sales/"+o.sale+"/settle", apispec.GroupAdmin, nil, nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return reportError("settle", o.sale, status, body)
		}
	}
	status, body, err := gw.call(ctx, http.MethodGet, "/admin/sales/"+o.sale+"/report", apispec.GroupFinance,
		map[string]string{"Accept": "application/json"}, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return reportError("report", o.sale, status, body)
	}
	var r flashsale.Report
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decode report of sale %s: %w", o.sale, err)
	}
	if o.out == "" {
		return render(stdout, r)
	}
	return writeFileAtomic(o.out, func(w io.Writer) error { return render(w, r) })
}

func writeJSON(w io.Writer, r flashsale.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// reportError turns a failed settle or report call into a message that says
// what to do next.
func reportError(what, sale string, status int, body []byte) error {
	code, msg := apiError(body)
	switch {
	case status == http.StatusNotFound && code == "not_settled":
		return fmt.Errorf("sale %s was never settled; run with --settle", sale)
	case status == http.StatusNotFound && code == "sale_not_found":
		return fmt.Errorf("no sale %s on this stack", sale)
	case status == http.StatusServiceUnavailable && code == "settlement_incomplete":
		return fmt.Errorf("%s for sale %s: settlement made progress but needs more than the API's time limit; the schedule goes on, and running this again continues it", what, sale)
	case status == http.StatusConflict && code == "settlement_in_progress":
		return fmt.Errorf("%s for sale %s: another settlement run held the sale for longer than the gateway waits; try again in a few seconds", what, sale)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%s for sale %s: the gateway refused the token (%d %s); is --state the running stack's state folder?", what, sale, status, msg)
	default:
		return fmt.Errorf("%s for sale %s: the gateway answered %d %s", what, sale, status, msg)
	}
}

// apiError reads either error shape of the contract (client.DecodeError)
// as a code and a message that starts with the code when there is one.
func apiError(body []byte) (code, message string) {
	e := client.DecodeError(0, body)
	if e.Code != "" {
		return e.Code, e.Code + ": " + e.Message
	}
	return "", e.Message
}

// writeFileAtomic writes path through a temporary file in the same folder
// and a rename, so a reader never sees half a report and a failed run
// leaves any earlier file intact.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a report is an ordinary file.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// targetFlag registers --target, shared by the commands that call the gateway.
func targetFlag(register func(*string, string, string, string), p *string) {
	register(p, "target", "", "gateway URL (default: the running local stack's, from the state folder)")
}

// stateDir resolves --state: the flag, or the default state folder.
func stateDir(state string) (string, error) {
	if state != "" {
		return state, nil
	}
	return devauth.DefaultStateDir()
}

// readStack reads the running local stack's info, with an error that says
// how to start one.
func readStack(state string) (devstack.StackInfo, error) {
	dir, err := stateDir(state)
	if err != nil {
		return devstack.StackInfo{}, err
	}
	info, err := devstack.ReadStackInfo(dir)
	if errors.Is(err, devstack.ErrNotRunning) {
		return devstack.StackInfo{}, fmt.Errorf("no local stack: run `make dev` (%w)", err)
	}
	return info, err
}

// apiClient calls the gateway with tokens minted from the state folder's dev keys.
type apiClient struct {
	url    string
	issuer *devauth.Issuer
	client *http.Client
}

// openAPI finds the gateway (target, or the running stack's) and loads
// the dev keys.
func openAPI(state, target string) (*apiClient, error) {
	if target == "" {
		info, err := readStack(state)
		if err != nil {
			return nil, err
		}
		target = info.GatewayURL
	}
	iss, err := openIssuer(state)
	if err != nil {
		return nil, err
	}
	// Settlement of a big sale takes a while; a stuck gateway must not hang
	// the command forever.
	return &apiClient{url: strings.TrimRight(target, "/"), issuer: iss, client: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// call sends one request, with a short-lived token for group when group is
// not empty, and returns the status and body.
func (g *apiClient) call(ctx context.Context, method, path, group string, header map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if group != "" {
		tok, err := g.issuer.Token(devauth.TokenRequest{UserID: "flashsale-cli", Groups: []string{group}, TTL: 5 * time.Minute})
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, g.url+path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, g.url+path, err)
	}
	return resp.StatusCode, b, nil
}
