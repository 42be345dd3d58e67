package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
	"flashsale/shared/client"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/local/devauth"
	"flashsale/shared/ops/catalog"
)

func init() {
	cmd := &cobra.Command{
		Use:   "sales",
		Short: "Manage sales on the local stack or a deployed stage (import a catalog)",
	}
	cmd.AddCommand(newSalesImportCmd())
	rootCmd.AddCommand(cmd)
}

// DefaultImportConcurrency is how many sales `sales import` creates at once.
const DefaultImportConcurrency = 8

// salesImportOptions are the flags of `flashsale sales import`.
type salesImportOptions struct {
	state             string
	stage, api, token string
	file              string
	dryRun            bool
	concurrency       int
	// backoff paces the retries of 429 answers; zero fields take
	// defaultBackoff's.
	backoff backoff
}

func newSalesImportCmd() *cobra.Command {
	var o salesImportOptions
	cmd := &cobra.Command{
		Use:   "import --file catalog.json|catalog.csv",
		Short: "Create the sales of a catalog file (JSON or CSV) through the admin API",
		Long: `import reads a catalog of sales and creates each through POST /admin/sales.

The file's extension says its format. A .json file is an array of
POST /admin/sales bodies:

  [
    {"saleId":"spring-1","name":"Spring drop","priceCents":1999,"currency":"USD",
     "startsAt":"2027-03-01T10:00:00Z","endsAt":"2027-03-01T11:00:00Z",
     "stock":1000,"perUserLimit":1,"paymentWindowSeconds":600,"shards":8},
    {"saleId":"members-2","name":"Members' drop","priceCents":2999,"currency":"EUR",
     "startsAt":"2027-03-02T10:00:00Z","endsAt":"2027-03-02T11:00:00Z",
     "stock":500,"perUserLimit":2,"paymentWindowSeconds":900,"expectedPeakRps":4000,
     "admission":{"groups":["member"],"minAccountAgeDays":30}}
  ]

A .csv file has a header row of the same field names, then one sale a line.
An empty cell leaves the field out (the route's default applies); an
admission cell holds admission's JSON, quoted as CSV quotes:

  saleId,name,priceCents,currency,startsAt,endsAt,stock,perUserLimit,paymentWindowSeconds,shards,expectedPeakRps,admission
  spring-1,Spring drop,1999,USD,2027-03-01T10:00:00Z,2027-03-01T11:00:00Z,1000,1,600,8,,
  members-2,Members' drop,2999,EUR,2027-03-02T10:00:00Z,2027-03-02T11:00:00Z,500,2,900,,4000,"{""groups"":[""member""],""minAccountAgeDays"":30}"

docs/examples/ holds both. Every sale is checked first, exactly as the route
checks a body; if any is bad (a bad id, currency or time, endsAt before
startsAt, an unknown field or column, a saleId twice, a file that is not
UTF-8 or not what its extension says), the command lists every problem with
its row (JSON, 1-based) or line (CSV, the header is line 1) and sends nothing.
--dry-run stops there and says what it would send.

Then it creates the sales, --concurrency at a time, with a progress bar on
stderr, and prints one line a sale and a summary. Running it again is safe:
a sale that already exists with the same fields is skipped; one that exists
with other fields is reported as conflicting, with the fields that differ,
and left as it is (the command then exits non-zero). A sale stored whose
schedules failed (503 not_scheduled) is sent once more, which schedules it.

Without --stage it works on the running local stack (make dev) with an
admin token minted from the state folder. With --stage it calls a deployed
admin API: --api (or $` + envAPIURL + `) is the stage's base URL and --token
(or $` + envAdminToken + `) an admin's Cognito ID token.

Throttling: the per-IP rate rule lets one address send ` + fmt.Sprint(apispec.Stages["dev"].WAFRateLimit) + ` requests in 5
minutes on the dev stage, locally too (` + fmt.Sprint(apispec.Stages["prod"].WAFRateLimit) + ` on prod). An import sends one
request per new sale and two per existing one, so a big catalog can cross
it: the command then pauses and retries (the rule lifts as the 5-minute
window moves on) and says so. Locally, ` + "`flashsale dev --waf off`" + ` lifts the rule.

  flashsale sales import --file docs/examples/catalog.csv --dry-run
  flashsale sales import --file docs/examples/catalog.json
  flashsale sales import --file spring.csv --stage prod --api https://abc.execute-api.eu-west-1.amazonaws.com/prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSalesImport(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.stage, "stage", "", "a deployed stage (dev or prod) instead of the local stack")
	f.StringVar(&o.api, "api", "", "with --stage: the stage's base URL (default $"+envAPIURL+")")
	f.StringVar(&o.token, "token", "", "with --stage: an admin's ID token (default $"+envAdminToken+")")
	f.StringVar(&o.file, "file", "", "the catalog: a .json array of POST /admin/sales bodies, or a .csv with a header row of their fields")
	f.BoolVar(&o.dryRun, "dry-run", false, "check the catalog and say what would be sent, without calling the API")
	f.IntVar(&o.concurrency, "concurrency", DefaultImportConcurrency, "sales created at once (1 to 64)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// importOutcome is what happened to one sale of a catalog.
type importOutcome int

const (
	outcomeCreated importOutcome = iota
	outcomeSkipped
	outcomeConflicting
	outcomeFailed
)

// importResult is one sale's outcome and what to tell the operator.
type importResult struct {
	outcome importOutcome
	detail  string
	// status is the HTTP status of a failed row's last answer, 0 when
	// there was none.
	status int
}

// importSummary counts the outcomes of an import.
type importSummary struct {
	created, skipped, conflicting, failed int
}

func (s importSummary) String() string {
	return fmt.Sprintf("created %d, skipped %d, conflicting %d, failed %d", s.created, s.skipped, s.conflicting, s.failed)
}

func runSalesImport(ctx context.Context, o salesImportOptions, stdout, stderr io.Writer) error {
	if o.concurrency < 1 || o.concurrency > 64 {
		return fmt.Errorf("--concurrency %d: want 1 to 64", o.concurrency)
	}
	c, err := catalog.Read(o.file)
	if err != nil {
		var ce *catalog.Error
		if errors.As(err, &ce) {
			return fmt.Errorf("%w\nnothing was sent", err)
		}
		return err
	}
	if o.dryRun {
		return printDryRun(stdout, o.file, c)
	}
	api, err := openAdminAPI(ctx, o)
	if err != nil {
		return err
	}
	start := time.Now()
	results := importCatalog(ctx, api, c.Rows, o.concurrency, newThrottle(o.backoff, stderr), stderr)
	elapsed := time.Since(start)

	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	var sum importSummary
	for i, r := range results {
		switch r.outcome {
		case outcomeCreated:
			sum.created++
		case outcomeSkipped:
			sum.skipped++
		case outcomeConflicting:
			sum.conflicting++
		case outcomeFailed:
			sum.failed++
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.Rows[i].Where, c.Rows[i].Sale.ID, r.detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%d sales in %s, %.1f s)\n", sum, len(results), o.file, elapsed.Seconds())
	if sum.conflicting > 0 || sum.failed > 0 {
		return fmt.Errorf("%d conflicting and %d failed of %d sales; see above (running the import again is safe)",
			sum.conflicting, sum.failed, len(results))
	}
	return nil
}

// printDryRun says what an import of c would send.
func printDryRun(w io.Writer, file string, c catalog.Catalog) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range c.Rows {
		s := r.Sale
		fmt.Fprintf(tw, "%s\t%s\twould create: stock %d, shards %d, priceCents %d %s, %s to %s\n", r.Where, s.ID, s.Stock, s.Shards,
			s.PriceCents, s.Currency, flashsale.FormatTime(s.StartsAt), flashsale.FormatTime(s.EndsAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "dry run: %s holds %d valid sales (%s); nothing was sent. Sales that already exist will be compared and skipped or reported.\n",
		file, len(c.Rows), c.Format)
	return err
}

// adminAPI sends one admin request with an admin token. A 2xx answer is
// decoded into out when out is not nil; any other answer is a
// *client.APIError.
type adminAPI func(ctx context.Context, method, path string, body []byte, out any) error

// openAdminAPI reaches the admin routes the way the other admin commands
// do: the running local stack's gateway (openAPI) with an admin token
// minted from its state folder, or with --stage a deployed API
// (banOptions.open's checks). Both then call through remoteBans.call. One
// token serves the whole import: minting is an RSA signature, which a
// token per request made 40% of the command's CPU.
func openAdminAPI(ctx context.Context, o salesImportOptions) (adminAPI, error) {
	var remote *remoteBans
	if o.stage == "" {
		if o.api != "" || o.token != "" {
			return nil, errors.New("--api and --token need --stage (without it, sales go to the local stack)")
		}
		gw, err := openAPI(o.state, "")
		if err != nil {
			return nil, err
		}
		tok, err := gw.issuer.Token(devauth.TokenRequest{UserID: "flashsale-cli", Groups: []string{apispec.GroupAdmin}, TTL: importTokenTTL})
		if err != nil {
			return nil, err
		}
		remote = &remoteBans{url: gw.url, token: tok, http: gw.client}
	} else {
		b, err := (&banOptions{state: o.state, stage: o.stage, api: o.api, token: o.token}).open(ctx)
		if err != nil {
			return nil, err
		}
		remote = b.(*remoteBans)
	}
	remote.http.Transport = importTransport(o.concurrency)
	return func(ctx context.Context, method, path string, body []byte, out any) error {
		var in any
		if body != nil {
			in = json.RawMessage(body)
		}
		return remote.call(ctx, method, path, in, out)
	}, nil
}

// importTokenTTL is the life of the local admin token an import mints: long
// enough for a big catalog that waits out the per-IP rule.
const importTokenTTL = 2 * time.Hour

// importTransport keeps a connection per worker: the default transport
// keeps only 2 idle ones a host, so 8 workers would open a new connection
// for most requests.
func importTransport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	return t
}

// importCatalog creates the rows' sales, concurrency at a time, and returns
// each row's outcome in row order. A refused token (401, 403) stops the
// import: every other row would fail the same way.
func importCatalog(ctx context.Context, api adminAPI, rows []catalog.Row, concurrency int, th *throttle, stderr io.Writer) []importResult {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	results := make([]importResult, len(rows))
	bar := newImportProgress(stderr, len(rows))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(concurrency, len(rows)) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					results[i] = importResult{outcome: outcomeFailed, detail: "failed: not sent: " + context.Cause(ctx).Error()}
				} else {
					results[i] = importRow(ctx, api, rows[i], th)
					if s := results[i].status; s == http.StatusUnauthorized || s == http.StatusForbidden {
						stop(fmt.Errorf("the API refused the admin token or this address (%d)", s))
					}
				}
				bar.add()
			}
		})
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	bar.done()
	return results
}

// importRow creates one sale: 201 created; 409 sale_exists compared with
// the stored definition; 503 not_scheduled sent once more, which puts the
// schedules of the stored sale (CreateSale re-schedules an identical
// re-create).
func importRow(ctx context.Context, api adminAPI, row catalog.Row, th *throttle) importResult {
	const retryNote = " (the first POST answered 503 not_scheduled: the sale was stored without its schedules; the second put them)"
	retried := false
	for {
		err := th.do(ctx, func() error { return api(ctx, http.MethodPost, "/admin/sales", row.Body, nil) })
		var ae *client.APIError
		errors.As(err, &ae)
		switch {
		case err == nil:
			if retried {
				return importResult{outcome: outcomeCreated, detail: "created" + retryNote}
			}
			return importResult{outcome: outcomeCreated, detail: "created"}
		case ae != nil && ae.Status == http.StatusConflict && ae.Code == "sale_exists":
			r := compareStored(ctx, api, row, th)
			if retried && r.outcome == outcomeSkipped {
				return importResult{outcome: outcomeCreated, detail: "created" + retryNote}
			}
			return r
		case ae != nil && ae.Status == http.StatusServiceUnavailable && ae.Code == "not_scheduled" && !retried:
			retried = true
		case ae != nil && ae.Status == http.StatusServiceUnavailable && ae.Code == "not_scheduled":
			return importResult{outcomeFailed, "failed: stored, but its schedules (warm-up, reminders) failed twice (503 not_scheduled); run the import again to schedule it", ae.Status}
		default:
			return importResult{outcomeFailed, "failed: POST /admin/sales: " + describeAPIError(err), statusOf(err)}
		}
	}
}

// compareStored reads the stored sale's definition and compares it with the
// row, as the route would: both through ParseNewSale and Build.
func compareStored(ctx context.Context, api adminAPI, row catalog.Row, th *throttle) importResult {
	var got struct {
		Definition json.RawMessage `json:"definition"`
	}
	path := "/admin/sales/" + url.PathEscape(row.Sale.ID)
	if err := th.do(ctx, func() error { return api(ctx, http.MethodGet, path, nil, &got) }); err != nil {
		return importResult{outcomeFailed, "failed: exists (409 sale_exists), but GET " + path + ": " + describeAPIError(err), statusOf(err)}
	}
	n, err := handler.ParseNewSale(got.Definition)
	var stored flashsale.Sale
	if err == nil {
		stored, err = n.Build()
	}
	if err != nil {
		return importResult{outcome: outcomeFailed, detail: fmt.Sprintf("failed: exists (409 sale_exists), but its stored definition does not read: %v", err)}
	}
	if row.Sale.SameDefinition(stored) {
		return importResult{outcome: outcomeSkipped, detail: "skipped (exists, same fields)"}
	}
	diff := catalog.Diff(row.Sale, stored)
	if len(diff) == 0 {
		diff = []string{"the definitions differ"}
	}
	return importResult{outcome: outcomeConflicting, detail: "conflicting: exists with other fields, left unchanged: " + strings.Join(diff, "; ")}
}

// statusOf is the status of an API answer, 0 for no answer.
func statusOf(err error) int {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// describeAPIError says what an answer meant.
func describeAPIError(err error) string {
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	if ae.Code == "" {
		return fmt.Sprintf("the API answered %d %s", ae.Status, ae.Message)
	}
	return fmt.Sprintf("the API answered %d %s: %s", ae.Status, ae.Code, ae.Message)
}

// throttle retries requests answered 429, pausing every worker with a
// growing backoff: a stage throttle lets the next request through within a
// second, while the per-IP rate rule refuses an address until its count
// over the last 5 minutes falls under the limit (and counts the refused
// requests too, so hammering it only prolongs the block).
type throttle struct {
	backoff
	w       io.Writer
	mu      sync.Mutex
	until   time.Time // nobody sends before this
	pause   time.Duration
	since   time.Time // the first 429 of the current run of them; zero when none
	advised bool      // the long explanation was printed
}

// backoff is how a throttle paces retries: first is the first pause, max
// the longest; giveUp is how long rows keep waiting through 429s before
// they fail.
type backoff struct{ first, max, giveUp time.Duration }

var defaultBackoff = backoff{first: time.Second, max: time.Minute, giveUp: 10 * time.Minute}

// newThrottle returns a throttle pacing by b (zero fields: defaultBackoff's)
// that explains long pauses on w.
func newThrottle(b backoff, w io.Writer) *throttle {
	t := &throttle{backoff: b, w: w}
	if t.first == 0 {
		t.first = defaultBackoff.first
	}
	if t.max == 0 {
		t.max = defaultBackoff.max
	}
	if t.giveUp == 0 {
		t.giveUp = defaultBackoff.giveUp
	}
	return t
}

// do calls f until it answers something other than 429, or the run of
// 429s has lasted giveUp.
func (t *throttle) do(ctx context.Context, f func() error) error {
	for {
		t.mu.Lock()
		wait := time.Until(t.until)
		t.mu.Unlock()
		if wait > 0 {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(wait):
			}
		}
		err := f()
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests {
			t.passed()
			return err
		}
		if t.refused() {
			return fmt.Errorf("%w (429s for %s: gave up; the per-IP rate rule or the stage throttle kept refusing this address)", err, t.giveUp)
		}
	}
}

// passed ends a run of 429s.
func (t *throttle) passed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pause, t.since = 0, time.Time{}
}

// refused records a 429 and reports whether to give up.
func (t *throttle) refused() (giveUp bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.since.IsZero() {
		t.since = now
	}
	if now.Sub(t.since) > t.giveUp {
		return true
	}
	if now.Before(t.until) {
		return false // another worker already paused everyone
	}
	if t.pause == 0 {
		t.pause = t.first
	} else {
		t.pause = min(2*t.pause, t.max)
	}
	t.until = now.Add(t.pause)
	if t.pause >= 4*t.first {
		if !t.advised {
			t.advised = true
			fmt.Fprintf(t.w, "\nthe API keeps answering 429 Too Many Requests. This is most likely the per-IP rate rule "+
				"(%d requests from one address in 5 minutes on the dev stage, the local stack included; refused requests count too). "+
				"Pausing and retrying until it lifts, for up to %s; on the local stack, `flashsale dev --waf off` turns the rule off.\n",
				apispec.Stages["dev"].WAFRateLimit, t.giveUp)
		}
		fmt.Fprintf(t.w, "throttled (429): pausing %s\n", t.pause)
	}
	return false
}

// importProgress draws a bar on a terminal, and a line per 10% otherwise,
// so a log file does not fill with carriage returns.
type importProgress struct {
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	w        io.Writer
	n, total int
	lastTick int
}

func newImportProgress(w io.Writer, total int) *importProgress {
	p := &importProgress{w: w, total: total}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("sales"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *importProgress) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.bar != nil {
		_ = p.bar.Set(p.n)
		return
	}
	if tick := p.n * 10 / p.total; tick > p.lastTick {
		p.lastTick = tick
		fmt.Fprintf(p.w, "sent %d of %d sales\n", p.n, p.total)
	}
}

func (p *importProgress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
