package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/ops/soak"
)

func init() { rootCmd.AddCommand(newSoakCmd()) }

type soakOptions struct {
	duration time.Duration
	every    time.Duration
	rate     float64
	buyers   int
	out      string
}

func newSoakCmd() *cobra.Command {
	var o soakOptions
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Run mixed traffic for a long while and fail if memory or goroutines keep growing",
		Long: `soak opens its own local stack in this process (emulators on free ports, the
dev stage's limits), then plays mixed traffic for --duration: buyers, replays
of their Idempotency-Keys, payments, cancels, my-orders look-ups, sale reads
and an on-demand settlement every third sample. Every --every it samples this process's RSS
and goroutines (the gateway, the handlers, the poller and the schedule, plus
the load generator's fixed pool of workers). It fails if either keeps growing
after the first quarter (warm-up), writes its figures into --out between
soak markers, and settles the sale once more at the end to check the books.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSoak(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the traffic runs")
	f.DurationVar(&o.every, "every", 10*time.Second, "how often RSS and goroutines are sampled")
	f.Float64Var(&o.rate, "rate", 150, "requests per second, all kinds together")
	f.IntVar(&o.buyers, "buyers", 200, "distinct buyers")
	f.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "file whose soak section is rewritten; empty for none")
	return cmd
}

func runSoak(ctx context.Context, o soakOptions, stdout io.Writer) error {
	if o.duration < 8*o.every || o.rate <= 0 || o.buyers < 1 {
		return errors.New("soak: need a duration of at least 8 samples, a rate > 0 and buyers ≥ 1")
	}
	say := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	st, cfg, closeStack, err := soakStack(ctx, o, say)
	if err != nil {
		return err
	}
	defer closeStack()
	say("soak: %s of mixed traffic at %.0f req/s, a sample every %s", o.duration, o.rate, o.every)
	start := time.Now()
	cfg.OnSample = func(s soak.Sample, c soak.Counts) {
		var sent int64
		for _, n := range c.ByKind {
			sent += n
		}
		say("  %6s  rss %6.1f MiB  goroutines %5d  requests %7d  no answer %d",
			s.At, float64(s.RSSBytes)/(1<<20), s.Goroutines, sent, c.Failed)
	}
	res, err := soak.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep, settleErr := st.App.Service.Settle(ctx, cfg.SaleID)
	doc := soakDoc(o, res, rep, settleErr, time.Since(start))
	say("\n%s", doc)
	if o.out != "" {
		if err := writeSoakSection(o.out, doc); err != nil {
			return err
		}
		say("wrote the soak section of %s", o.out)
	}
	return soakVerdict(res.RSS.Growing, res.Goroutines.Growing, rep.Balanced, settleErr)
}

// soakVerdict names what failed, and only that: a settlement that worked
// has no error to print (it printed "<nil>" before).
func soakVerdict(rssGrowing, goroutinesGrowing, balanced bool, settleErr error) error {
	var why []string
	if rssGrowing {
		why = append(why, "RSS keeps growing")
	}
	if goroutinesGrowing {
		why = append(why, "goroutines keep growing")
	}
	switch {
	case settleErr != nil:
		why = append(why, "the final settlement failed: "+settleErr.Error())
	case !balanced:
		why = append(why, "the books do not balance after the final settlement")
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("soak failed: %s", strings.Join(why, "; "))
}

// soakStack opens the stack, creates the soak sale and mints the buyers.
func soakStack(ctx context.Context, o soakOptions, say func(string, ...any)) (*devstack.Stack, soak.Config, func(), error) {
	state, err := os.MkdirTemp("", "flashsale-soak-")
	if err != nil {
		return nil, soak.Config{}, nil, err
	}
	logFile, err := os.Create(filepath.Join(state, "stack.log"))
	if err != nil {
		return nil, soak.Config{}, nil, err
	}
	limits, err := apispec.LimitsFor("dev")
	if err != nil {
		return nil, soak.Config{}, nil, err
	}
	say("starting the local stack (log: %s)...", logFile.Name())
	st, err := devstack.Open(ctx, devstack.Config{StateDir: state, Limits: limits, Logger: slog.New(slog.NewTextHandler(logFile, nil))})
	if err != nil {
		logFile.Close()
		return nil, soak.Config{}, nil, fmt.Errorf("start the local stack (log: %s): %w", logFile.Name(), err)
	}
	closeStack := func() { st.Close(); logFile.Close(); os.RemoveAll(state) }
	now := time.Now().UTC()
	// Payment window of a minute, so orders expire and come back on sale
	// throughout the run, and settlement has work on every pass.
	for _, sale := range []flashsale.NewSale{
		{ID: "soak", Stock: flashsale.MaxStock, PerUserLimit: 1_000_000, Shards: 8},
		{ID: "soak-gone", Stock: 1, PerUserLimit: 1, Shards: 1}, // sold out below: the flood's target
	} {
		sale.Name, sale.PriceCents, sale.Currency, sale.PaymentWindowSeconds = sale.ID, 999, "USD", 60
		sale.StartsAt, sale.EndsAt = now.Add(-time.Minute), now.Add(o.duration+time.Hour)
		// The soak measures the purchase path's stability over time; the
		// admission step in front of it is measured by make bench.
		sale.Admission = &flashsale.Admission{PurchaseToken: false}
		if _, err := st.App.Service.CreateSale(ctx, sale); err != nil {
			closeStack()
			return nil, soak.Config{}, nil, err
		}
	}
	if _, err := st.App.Service.Reserve(ctx, flashsale.ReserveRequest{SaleID: "soak-gone", UserID: "first", Key: "k", Quantity: 1}); err != nil {
		closeStack()
		return nil, soak.Config{}, nil, fmt.Errorf("sell out soak-gone: %w", err)
	}
	buyers, err := mintCrowd(st.Issuer, "soaker-", o.buyers)
	if err != nil {
		closeStack()
		return nil, soak.Config{}, nil, err
	}
	admin, err := st.Issuer.Token(devauth.TokenRequest{UserID: "soak-ops", Groups: []string{apispec.GroupAdmin}, TTL: o.duration + time.Hour})
	if err != nil {
		closeStack()
		return nil, soak.Config{}, nil, err
	}
	cfg := soak.Config{Target: st.URL, SaleID: "soak", SoldOutSaleID: "soak-gone", Buyers: buyers, APIKey: st.Issuer.APIKey(), Admin: admin,
		WebhookSecret: []byte(st.Issuer.WebhookSecret()), Duration: o.duration, Every: o.every, Rate: o.rate,
		Sample: sampleSelf}
	return st, cfg, closeStack, nil
}

// sampleSelf reads this process's resident set (VmRSS in /proc) and
// goroutine count.
func sampleSelf() (soak.Sample, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return soak.Sample{}, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return soak.Sample{}, fmt.Errorf("VmRSS %q: %w", rest, err)
			}
			return soak.Sample{RSSBytes: kb << 10, Goroutines: runtime.NumGoroutine()}, nil
		}
	}
	return soak.Sample{}, errors.New("no VmRSS in /proc/self/status")
}

// soakDoc is the soak section of docs/BENCHMARKS.md.
func soakDoc(o soakOptions, res soak.Result, rep flashsale.Report, settleErr error, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Soak\n\n")
	w("Written by `make soak` (`go run ./cmd/flashsale soak --duration %s --every %s --rate %.0f --buyers %d`) on %s, in %s. Machine: %s.\n\n",
		o.duration, o.every, o.rate, o.buyers, time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second), machine())
	w("One process runs the local stack (gateway, handlers, poller, settlement schedule) and the load generator's fixed pool of workers; DynamoDB Local and the local SQS run beside it. ")
	mix := make([]string, len(soak.Mix))
	for i, m := range soak.Mix {
		mix[i] = fmt.Sprintf("%s %d%%", m.Kind, m.Weight)
	}
	w("The traffic mixes %s, with an on-demand settlement every third sample beside the stack's own schedule; the sold-out kind buys on a second sale that sold out at the start; orders have a one-minute payment window, so expiries and restocks go on throughout.\n\n", strings.Join(mix, ", "))
	kinds := make([]string, 0, len(res.Counts.ByKind))
	for k := range res.Counts.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, 0, len(kinds)+1)
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, res.Counts.ByKind[k]))
	}
	parts = append(parts, fmt.Sprintf("no answer %d", res.Counts.Failed))
	w("| | |\n|---|---|\n")
	w("| requests by kind | %s |\n", strings.Join(parts, " · "))
	codes := make([]int, 0, len(res.Counts.ByStatus))
	for c := range res.Counts.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts = parts[:0]
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", c, res.Counts.ByStatus[c]))
	}
	w("| answers by status | %s |\n", strings.Join(parts, " · "))
	w("| RSS (MiB) | %s: %s |\n", growingWord(res.RSS.Growing), res.RSS.Reason)
	w("| goroutines | %s: %s |\n", growingWord(res.Goroutines.Growing), res.Goroutines.Reason)
	u := rep.Units
	if settleErr != nil {
		w("| books after a final settlement | **the settlement failed**: %v |\n", settleErr)
	} else {
		w("| books after a final settlement | balanced %v: available %d + reserved %d + paid %d + in limbo %d = loaded %d; restocked %d = expired %d + cancelled %d; %d order lines |\n",
			rep.Balanced, u.Available, u.Reserved, u.Paid, u.InLimbo, u.Loaded, u.Restocked, u.Expired, u.Cancelled, len(rep.Orders))
	}
	w("\nThe first quarter of the samples is warm-up; the rest is cut in halves, and a series fails when the second half's median exceeds the first's by more than 25%% + 16 MiB (RSS) or 20%% + 20 (goroutines). ")
	w("The sale's orders grow all along, and a settlement pass holds every order line of the sale in memory, so RSS follows the sale's size as well as any leak.\n\n")
	w("| at | RSS (MiB) | goroutines |\n|---|---|---|\n")
	for _, s := range res.Samples {
		w("| %s | %.1f | %d |\n", s.At, float64(s.RSSBytes)/(1<<20), s.Goroutines)
	}
	return b.String()
}

func growingWord(growing bool) string {
	if growing {
		return "**keeps growing**"
	}
	return "**level**"
}

// Markers around the soak section, which `make bench` keeps when it
// rewrites the rest of the file.
const (
	soakBegin = "<!-- soak:begin -->"
	soakEnd   = "<!-- soak:end -->"
)

// writeSoakSection replaces the soak section of path (or appends one).
func writeSoakSection(path, doc string) error {
	if !filepath.IsAbs(path) {
		root, err := devstack.FindRoot(".")
		if err != nil {
			return err
		}
		path = filepath.Join(root, path)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	section := soakBegin + "\n" + doc + soakEnd + "\n"
	return os.WriteFile(path, []byte(withSoakSection(string(old), section)), 0o644)
}

// withSoakSection puts section in place of the markers' section of doc, or
// at its end.
func withSoakSection(doc, section string) string {
	return withSection(doc, soakBegin, soakEnd, section)
}

// withSection puts section in place of the section between begin and end
// in doc, or at its end.
func withSection(doc, begin, end, section string) string {
	if i := strings.Index(doc, begin); i >= 0 {
		if j := strings.Index(doc[i:], end); j >= 0 {
			stop := i + j + len(end)
			if stop < len(doc) && doc[stop] == '\n' {
				stop++
			}
			return doc[:i] + section + doc[stop:]
		}
	}
	if doc != "" && !strings.HasSuffix(doc, "\n\n") {
		doc = strings.TrimRight(doc, "\n") + "\n\n"
	}
	return doc + section
}

// soakSectionOf returns the soak section of doc, markers included, or "".
func soakSectionOf(doc []byte) string { return sectionOf(doc, soakBegin, soakEnd) }

// sectionOf returns the section between begin and end, markers included,
// or "".
func sectionOf(doc []byte, begin, end string) string {
	i := bytes.Index(doc, []byte(begin))
	if i < 0 {
		return ""
	}
	j := bytes.Index(doc[i:], []byte(end))
	if j < 0 {
		return ""
	}
	return string(doc[i:i+j+len(end)]) + "\n"
}
