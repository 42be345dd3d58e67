package flashsale

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// Report formats: the files the archive keeps of every report version, and
// what the report routes answer (reportfmt renders them).
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
	FormatHTML = "html"
)

// ReportFormats lists every format.
var ReportFormats = []string{FormatJSON, FormatCSV, FormatXLSX, FormatHTML}

// ReportArchive keeps every published report version as files finance can
// open, however many orders a sale has (an S3 bucket deployed, a local S3
// server on the dev stack). The store keeps only each sale's latest
// summary, which says whether there is a report at all.
type ReportArchive interface {
	// Publish renders r in every format and stores it as the sale's latest
	// version; earlier versions stay.
	Publish(ctx context.Context, r Report) error
	// Open reads the latest file of a sale's report in one format.
	// Errors: ErrNotSettled when the archive has none.
	Open(ctx context.Context, saleID, format string) (ReportFile, error)
	// Link is a URL that downloads that file without credentials until ttl
	// has passed (a presigned GET).
	Link(ctx context.Context, saleID, format string, ttl time.Duration) (string, error)
	// Holds reports whether the archive's latest version of the sale's
	// report is complete and is the one with this fingerprint (its JSON,
	// which Publish writes last, carries the fingerprint).
	Holds(ctx context.Context, saleID, fingerprint string) (bool, error)
}

// ReportFile is one stored report file. The caller closes Body.
type ReportFile struct {
	Body        io.ReadCloser
	Size        int64
	ContentType string
}

// WithReportArchive makes settlement publish every new report version to a,
// and the report routes read their files from it.
func WithReportArchive(a ReportArchive) Option { return func(s *Service) { s.archive = a } }

// StoredReport is what the store keeps of a sale's latest report: the
// report without its lines (orders, refunds, adjustments: those live in
// the archive),
// and a fingerprint of the whole, so settlement publishes a new version
// only when something changed.
type StoredReport struct {
	Report
	Name            string
	Fingerprint     string
	OrderLines      int
	RefundLines     int
	AdjustmentLines int
}

// Summary is r without its order, refund and adjustment lines (a burst of
// dead requests adds an adjustment each): bounded in size however big the
// sale.
func (r Report) Summary() Report {
	r.Orders, r.Refunds, r.Adjustments = nil, nil, nil
	return r
}

// Fingerprint identifies a report's content: everything but generatedAt.
func (r Report) Fingerprint() string {
	r.GeneratedAt = ""
	r.Adjustments = slices.Clone(r.Adjustments) // r is a copy, its lists are not
	for i := range r.Adjustments {
		if r.Adjustments[i].Kind == AdjustmentInLimbo {
			// Rewritten at each run; its units already count in the figures.
			r.Adjustments[i].At = ""
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a Report always encodes
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SettledSale is one sale's line in the period index: its report's figures
// as of a version published on Day.
type SettledSale struct {
	SaleID          string
	Name            string
	Day             string // YYYY-MM-DD, UTC, of GeneratedAt
	GeneratedAt     time.Time
	Currency        string
	Units           ReportUnits
	RevenueCents    int64
	RefundsDueCents int64
	Balanced        bool
}

// PeriodReport is finance's view of a period: one row per sale settled in
// it, and totals per currency (different currencies are never added up).
type PeriodReport struct {
	From        string          `json:"from"`
	To          string          `json:"to"`
	GeneratedAt string          `json:"generatedAt"`
	Sales       []PeriodSale    `json:"sales"`
	Totals      []CurrencyTotal `json:"totals"`
}

// PeriodSale is one sale's row: the figures of its latest report version
// published in the period.
type PeriodSale struct {
	SaleID          string      `json:"saleId"`
	Name            string      `json:"name"`
	SettledAt       string      `json:"settledAt"`
	Currency        string      `json:"currency"`
	Units           ReportUnits `json:"units"`
	RevenueCents    int64       `json:"revenueCents"`
	RefundsDueCents int64       `json:"refundsDueCents"`
	Balanced        bool        `json:"balanced"`
}

// CurrencyTotal sums the rows of one currency.
type CurrencyTotal struct {
	Currency        string `json:"currency"`
	Sales           int    `json:"sales"`
	UnitsPaid       int64  `json:"unitsPaid"`
	RevenueCents    int64  `json:"revenueCents"`
	RefundsDueCents int64  `json:"refundsDueCents"`
	Balanced        bool   `json:"balanced"`
}

// MaxPeriodDays bounds a period report: a year, leap day included.
const MaxPeriodDays = 366

// DayLayout is how periods name their days.
const DayLayout = "2006-01-02"

// ParsePeriod reads a period's first and last day (YYYY-MM-DD, UTC, both
// included). Errors are InputErrors: invalid_date for a day that does not
// parse, invalid_range for a last day before the first or a period over
// MaxPeriodDays.
func ParsePeriod(from, to string) (first, last time.Time, err error) {
	if first, err = parseDay("from", from); err != nil {
		return
	}
	if last, err = parseDay("to", to); err != nil {
		return
	}
	if last.Before(first) {
		return first, last, &InputError{Code: "invalid_range", Field: "to", Message: fmt.Sprintf("to (%s) is before from (%s)", to, from)}
	}
	if days := int(last.Sub(first)/(24*time.Hour)) + 1; days > MaxPeriodDays {
		return first, last, &InputError{Code: "invalid_range", Field: "to",
			Message: fmt.Sprintf("the period spans %d days; at most %d are allowed", days, MaxPeriodDays)}
	}
	return first, last, nil
}

func parseDay(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, &InputError{Code: "invalid_date", Field: field, Message: field + " is required, as a date such as 2026-12-01"}
	}
	d, err := time.Parse(DayLayout, v)
	if err != nil {
		return time.Time{}, &InputError{Code: "invalid_date", Field: field,
			Message: fmt.Sprintf("%s=%q is not a date such as 2026-12-01 (YYYY-MM-DD, UTC)", field, v)}
	}
	return d, nil
}

// PeriodReport lists the sales with a report version published between the
// first and last day (UTC, both included), each with the figures of its
// latest version in the period, and totals per currency.
// Errors: InputError (ParsePeriod), ErrUnavailable.
func (s *Service) PeriodReport(ctx context.Context, from, to string) (PeriodReport, error) {
	first, last, err := ParsePeriod(from, to)
	if err != nil {
		return PeriodReport{}, err
	}
	lines, err := s.store.SettledBetween(ctx, first, last)
	if err != nil {
		return PeriodReport{}, s.unavailable(err, "read the sales settled from %s to %s", from, to)
	}
	latest := map[string]SettledSale{}
	for _, l := range lines {
		if cur, ok := latest[l.SaleID]; !ok || l.GeneratedAt.After(cur.GeneratedAt) {
			latest[l.SaleID] = l
		}
	}
	p := PeriodReport{From: first.Format(DayLayout), To: last.Format(DayLayout), GeneratedAt: FormatTime(s.now()),
		Sales: []PeriodSale{}, Totals: []CurrencyTotal{}}
	totals := map[string]*CurrencyTotal{}
	for _, l := range latest {
		p.Sales = append(p.Sales, PeriodSale{SaleID: l.SaleID, Name: l.Name, SettledAt: FormatTime(l.GeneratedAt),
			Currency: l.Currency, Units: l.Units, RevenueCents: l.RevenueCents, RefundsDueCents: l.RefundsDueCents, Balanced: l.Balanced})
		t := totals[l.Currency]
		if t == nil {
			t = &CurrencyTotal{Currency: l.Currency, Balanced: true}
			totals[l.Currency] = t
		}
		t.Sales++
		t.UnitsPaid += l.Units.Paid
		t.RevenueCents += l.RevenueCents
		t.RefundsDueCents += l.RefundsDueCents
		t.Balanced = t.Balanced && l.Balanced
	}
	sort.Slice(p.Sales, func(i, j int) bool {
		if p.Sales[i].SettledAt != p.Sales[j].SettledAt {
			return p.Sales[i].SettledAt < p.Sales[j].SettledAt
		}
		return p.Sales[i].SaleID < p.Sales[j].SaleID
	})
	for _, t := range totals {
		p.Totals = append(p.Totals, *t)
	}
	sort.Slice(p.Totals, func(i, j int) bool { return p.Totals[i].Currency < p.Totals[j].Currency })
	return p, nil
}

// ErrNoArchive is returned when a report file is asked for and the
// service has no archive (a configuration fault: every stack has one).
var ErrNoArchive = errors.New("no report archive is configured")

// ReportFile opens the latest file of a settled sale's report.
// Errors: ErrSaleNotFound, ErrNotSettled, ErrNoArchive, ErrUnavailable.
func (s *Service) ReportFile(ctx context.Context, saleID, format string) (ReportFile, error) {
	stored, err := s.LatestReport(ctx, saleID)
	if err != nil {
		return ReportFile{}, err
	}
	if s.archive == nil {
		return ReportFile{}, ErrNoArchive
	}
	f, err := s.archive.Open(ctx, saleID, format)
	if errors.Is(err, ErrNotSettled) && stored.Fingerprint == "" && stored.Orders != nil {
		// Stored before reports went to the archive: the item holds the
		// whole report, so the first read publishes it.
		if err := s.archive.Publish(ctx, stored.Report); err != nil {
			return ReportFile{}, s.unavailable(err, "publish the stored report of %s", saleID)
		}
		f, err = s.archive.Open(ctx, saleID, format)
	}
	if err != nil {
		return ReportFile{}, s.unavailable(err, "open the %s report of %s", format, saleID)
	}
	return f, nil
}

// ReportLink presigns a download of the latest file of a sale's report.
// The caller has already opened it (ReportFile), so the sale is settled.
func (s *Service) ReportLink(ctx context.Context, saleID, format string, ttl time.Duration) (string, error) {
	if s.archive == nil {
		return "", ErrNoArchive
	}
	u, err := s.archive.Link(ctx, saleID, format, ttl)
	if err != nil {
		return "", s.unavailable(err, "link the %s report of %s", format, saleID)
	}
	return u, nil
}
