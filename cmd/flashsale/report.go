package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// formatTable is the terminal table: the CLI's own format. The others are
// the API's (flashsale.ReportFormats), fetched as the gateway renders them.
const formatTable = "table"

// reportOptions are the flags of `flashsale report`.
type reportOptions struct {
	state, target string
	sale          string
	from, to      string
	format        string
	out           string
	settle        bool
	// summary prints the sale's summary CSV instead of its orders CSV.
	summary bool
}

func newReportCmd() *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print or save a sale's settlement report, or a period's, from the local gateway",
		Long: `Fetches the latest settlement report of a sale (--sale) or the period report
of every sale settled between two days (--from, --to; UTC dates, both
included, at most 366 days) through the gateway with a finance token.

Formats: table (the default, for the terminal), csv (RFC 4180; a sale's has
one row per order and a TOTAL row, a period's one row per sale and a TOTAL
row per currency), json, html (one self-contained page that prints on A4)
and xlsx (a workbook for Excel; needs --out). --settle runs settlement first
(with an admin token), so a sale's report is fresh.

--summary, with --format csv and --sale, prints the sale's summary CSV
instead of its orders CSV: section,item,value,detail,currency rows for the
units (loaded, paid, …), the money (revenueCents, refundsDueCents), each
refund and each adjustment. Each file then holds one table that any CSV
reader parses; run the command twice for both.

  flashsale report --sale demo --settle
  flashsale report --sale demo --format csv --out demo-orders.csv
  flashsale report --sale demo --format csv --summary --out demo-summary.csv
  flashsale report --sale demo --format xlsx --out demo.xlsx
  flashsale report --sale demo --format html --out demo.html
  flashsale report --from 2026-11-01 --to 2026-11-30 --format csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.sale, "sale", "", "sale id")
	f.StringVar(&o.from, "from", "", "period report: first day, YYYY-MM-DD (UTC)")
	f.StringVar(&o.to, "to", "", "period report: last day, YYYY-MM-DD (UTC; default: today)")
	f.StringVar(&o.format, "format", formatTable, "output format: table, csv, json, html or xlsx")
	f.StringVar(&o.out, "out", "", "write to this file (atomically) instead of stdout")
	f.BoolVar(&o.settle, "settle", false, "run settlement first (needs an admin token, minted from the state folder)")
	f.BoolVar(&o.summary, "summary", false, "with --format csv and --sale: print the units, money, refunds and adjustments as a CSV instead of the orders")
	targetFlag(f.StringVar, &o.target)
	return cmd
}

// reportRequest checks the flags and says which route to call.
func (o *reportOptions) request() (path, what string, err error) {
	if o.format != formatTable {
		if _, err := reportfmt.ParseFormat(o.format); err != nil {
			return "", "", fmt.Errorf("--format %q: want table, csv, json, html or xlsx", o.format)
		}
	}
	if o.format == flashsale.FormatXLSX && o.out == "" {
		return "", "", errors.New("--format xlsx writes a binary workbook: give --out FILE")
	}
	if o.summary && o.format != flashsale.FormatCSV {
		return "", "", fmt.Errorf("--summary is a CSV of the sale's totals: use it with --format csv, not %s", o.format)
	}
	if o.summary && o.sale == "" {
		return "", "", errors.New("--summary summarises one sale: use it with --sale")
	}
	switch {
	case o.sale != "" && (o.from != "" || o.to != ""):
		return "", "", errors.New("give either --sale or --from/--to, not both")
	case o.sale != "":
		if !flashsale.ValidID(o.sale) {
			return "", "", fmt.Errorf("--sale %q: want 1-64 characters of [A-Za-z0-9_-]", o.sale)
		}
		return "/admin/sales/" + o.sale + "/report", "sale " + o.sale, nil
	case o.from == "" && o.to != "":
		return "", "", errors.New("--to needs --from")
	case o.from == "":
		return "", "", errors.New("give --sale for a sale's report, or --from (and --to) for a period's")
	case o.settle:
		return "", "", errors.New("--settle settles one sale: use it with --sale")
	}
	if o.to == "" {
		o.to = time.Now().UTC().Format(flashsale.DayLayout)
	}
	// The same checks as the API's, so a typo fails before any call.
	if _, _, err := flashsale.ParsePeriod(o.from, o.to); err != nil {
		return "", "", err
	}
	q := url.Values{"from": {o.from}, "to": {o.to}}
	return "/admin/reports?" + q.Encode(), "period " + o.from + " to " + o.to, nil
}

func runReport(ctx context.Context, o reportOptions, stdout io.Writer) error {
	path, what, err := o.request()
	if err != nil {
		return err
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
			return reportError("settle", what, status, body)
		}
	}
	format := o.format
	if format == formatTable || o.summary {
		format = flashsale.FormatJSON // rendered here
	}
	status, body, err := gw.call(ctx, http.MethodGet, path, apispec.GroupFinance,
		map[string]string{"Accept": reportfmt.ContentType(format)}, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return reportError("report", what, status, body)
	}
	render, err := reportRenderer(o.format, o.sale != "", o.summary, body)
	if err != nil {
		return fmt.Errorf("decode the report of %s: %w", what, err)
	}
	if o.out == "" {
		return render(stdout)
	}
	return writeFileAtomic(o.out, render)
}

// reportRenderer writes what the gateway answered: as it came for the
// API's formats (JSON indented for people), as a table or a summary CSV,
// both rendered from the JSON, otherwise.
func reportRenderer(format string, sale, summary bool, body []byte) (func(io.Writer) error, error) {
	switch {
	case summary:
		var r flashsale.Report
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		return func(w io.Writer) error { return reportfmt.WriteSummaryCSV(w, r) }, nil
	case format == flashsale.FormatJSON:
		var buf bytes.Buffer
		if err := json.Indent(&buf, body, "", "  "); err != nil {
			return nil, err
		}
		buf.WriteByte('\n')
		return func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }, nil
	case format != formatTable:
		return func(w io.Writer) error { _, err := w.Write(body); return err }, nil
	case sale:
		var r flashsale.Report
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		return func(w io.Writer) error { return reportfmt.WriteTable(w, r) }, nil
	default:
		var p flashsale.PeriodReport
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, err
		}
		return func(w io.Writer) error { return reportfmt.WritePeriodTable(w, p) }, nil
	}
}

// reportError turns a failed settle or report call into a message that says
// what to do next; subject is "sale <id>" or "period <from> to <to>".
func reportError(what, subject string, status int, body []byte) error {
	code, msg := apiError(body)
	switch {
	case status == http.StatusNotFound && code == "not_settled":
		return fmt.Errorf("%s was never settled; run with --settle", subject)
	case status == http.StatusNotFound && code == "sale_not_found":
		return fmt.Errorf("no %s on this stack", subject)
	case status == http.StatusServiceUnavailable && code == "settlement_incomplete":
		return fmt.Errorf("%s for %s: settlement made progress but needs more than the API's time limit; the schedule goes on, and running this again continues it", what, subject)
	case status == http.StatusConflict && code == "settlement_in_progress":
		return fmt.Errorf("%s for %s: another settlement run held the sale for longer than the gateway waits; try again in a few seconds", what, subject)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%s for %s: the gateway refused the token (%d %s); is --state the running stack's state folder?", what, subject, status, msg)
	case status == http.StatusNotAcceptable:
		return fmt.Errorf("%s for %s: this gateway does not make that format (%s)", what, subject, msg)
	default:
		return fmt.Errorf("%s for %s: the gateway answered %d %s", what, subject, status, msg)
	}
}

// apiError reads either error shape of the contract (client.DecodeError)
// as a code and a message that starts with the code when there is one.
func apiError(body []byte) (code, message string) {
	e := client.DecodeError(0, body)
	if e.Code != "" {
		return e.Code, e.Code + ": " + e.Message
	}
	if e.Message == "" { // "answered 500 " said nothing
		return "", "(empty body)"
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
