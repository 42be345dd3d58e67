package s3reports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/xuri/excelize/v2"

	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/s3local"
	"flashsale/shared/reportfmt"
	"flashsale/shared/s3reports"
)

// archive starts a local S3 server for one test and returns the archive
// on its bucket and the client under it; extra options apply to the
// client.
func archive(tb testing.TB, extra ...func(*s3.Options)) (*s3reports.Archive, *s3.Client, string) {
	tb.Helper()
	srv := s3local.StartT(tb)
	set := awsclient.Settings{S3Endpoint: srv.Endpoint, ReportsBucket: srv.Bucket}
	cfg, err := awsclient.LoadConfig(context.Background(), set)
	if err != nil {
		tb.Fatal(err)
	}
	c := awsclient.S3(cfg, set, extra...)
	return s3reports.New(c, srv.Bucket), c, srv.Bucket
}

func sample(generatedAt string) flashsale.Report {
	return flashsale.Report{
		SaleID: "spring-1", GeneratedAt: generatedAt, Balanced: true, Currency: "USD",
		Units:        flashsale.ReportUnits{Loaded: 10, Available: 7, Paid: 2, Expired: 1, Restocked: 1},
		RevenueCents: 3998, RefundsDueCents: 1999,
		Refunds: []flashsale.Refund{{EventID: "evt_9", OrderID: "spring-1.c", AmountCents: 1999, Reason: flashsale.ReasonExpired}},
		Orders: []flashsale.ReportOrder{
			{OrderID: "spring-1.a", UserID: "u1", Quantity: 2, AmountCents: 3998, Status: "paid", CreatedAt: "2026-12-01T10:00:01Z", PaidAt: "2026-12-01T10:01:00Z"},
			{OrderID: "spring-1.c", UserID: "u3", Quantity: 1, AmountCents: 1999, Status: "expired", CreatedAt: "2026-12-01T10:00:03Z"},
		},
	}
}

func render(tb testing.TB, format string, r flashsale.Report) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := reportfmt.Write(&buf, format, r); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(tb testing.TB, f flashsale.ReportFile) []byte {
	tb.Helper()
	defer f.Body.Close()
	b, err := io.ReadAll(f.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestPublishOpen: every format comes back as reportfmt renders it, with
// its size and media type, under sales/<saleId>/report.<ext>.
func TestPublishOpen(t *testing.T) {
	a, c, bucket := archive(t)
	r := sample("2026-12-01T10:15:00Z")
	if err := a.Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	for _, format := range flashsale.ReportFormats {
		t.Run(format, func(t *testing.T) {
			f, err := a.Open(t.Context(), r.SaleID, format)
			if err != nil {
				t.Fatal(err)
			}
			got, want := readAll(t, f), render(t, format, r)
			if !sameFile(t, format, got, want) {
				t.Errorf("body %q, want %q", got, want)
			}
			if f.Size != int64(len(got)) {
				t.Errorf("size %d, want %d", f.Size, len(got))
			}
			if f.ContentType != reportfmt.ContentType(format) {
				t.Errorf("content type %q, want %q", f.ContentType, reportfmt.ContentType(format))
			}
			key := "sales/spring-1/report." + format
			if _, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
				t.Errorf("head %s: %v", key, err)
			}
		})
	}
}

func TestOpen_NotSettled(t *testing.T) {
	a, _, _ := archive(t)
	if err := a.Publish(t.Context(), sample("2026-12-01T10:15:00Z")); err != nil {
		t.Fatal(err)
	}
	_, err := a.Open(t.Context(), "other-sale", flashsale.FormatCSV)
	if !errors.Is(err, flashsale.ErrNotSettled) {
		t.Errorf("got %v, want ErrNotSettled", err)
	}
}

// TestPublish_KeepsVersions: a second Publish is the latest version of
// every file, and the first stays in the bucket, each tagged with its
// generatedAt.
func TestPublish_KeepsVersions(t *testing.T) {
	a, c, bucket := archive(t)
	first, second := sample("2026-12-01T10:15:00Z"), sample("2026-12-01T11:15:00Z")
	second.Units.Paid, second.Units.Available = 3, 6
	for _, r := range []flashsale.Report{first, second} {
		if err := a.Publish(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range flashsale.ReportFormats {
		f, err := a.Open(t.Context(), first.SaleID, format)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := readAll(t, f), render(t, format, second); !sameFile(t, format, got, want) {
			t.Errorf("%s: got %q, want the second version %q", format, got, want)
		}
		key := s3reports.Key(first.SaleID, format)
		vs, err := c.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		var stamps []string
		for _, v := range vs.Versions {
			// GET, not HEAD: gofakes3's HEAD ignores the version id.
			o, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId})
			if err != nil {
				t.Fatal(err)
			}
			o.Body.Close()
			stamps = append(stamps, o.Metadata[s3reports.MetaGeneratedAt])
		}
		slices.Sort(stamps)
		if want := []string{first.GeneratedAt, second.GeneratedAt}; !slices.Equal(stamps, want) {
			t.Errorf("%s: versions generated at %v, want %v", key, stamps, want)
		}
	}
}

// TestPublish_JSONLast: the JSON, the file readers trust as the version's
// marker, is put after every other format.
func TestPublish_JSONLast(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	recordPuts := func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("record-puts", func(
				ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler,
			) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*s3.PutObjectInput); ok {
					mu.Lock()
					keys = append(keys, aws.ToString(p.Key))
					mu.Unlock()
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		})
	}
	a, _, _ := archive(t, recordPuts)
	if err := a.Publish(t.Context(), sample("2026-12-01T10:15:00Z")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != len(flashsale.ReportFormats) {
		t.Fatalf("puts %v, want one per format", keys)
	}
	if last, want := keys[len(keys)-1], s3reports.Key("spring-1", flashsale.FormatJSON); last != want {
		t.Errorf("puts %v: last %s, want %s", keys, last, want)
	}
}

// TestLink: the presigned URL downloads the latest file with a plain GET,
// with its media type and a file name.
func TestLink(t *testing.T) {
	a, _, _ := archive(t)
	r := sample("2026-12-01T10:15:00Z")
	if err := a.Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	u, err := a.Link(t.Context(), r.SaleID, flashsale.FormatCSV, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if want := render(t, flashsale.FormatCSV, r); !bytes.Equal(body, want) {
		t.Errorf("body %q, want %q", body, want)
	}
	if got, want := resp.Header.Get("Content-Type"), reportfmt.ContentType(flashsale.FormatCSV); got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("Content-Disposition"), fmt.Sprintf(`attachment; filename="%s-report.csv"`, r.SaleID); got != want {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
}

func TestHolds(t *testing.T) {
	a, c, bucket := archive(t)
	ctx := context.Background()
	r := sample("2026-12-01T11:00:00Z")
	fp := r.Fingerprint()
	if holds, err := a.Holds(ctx, "spring-1", fp); err != nil || holds {
		t.Fatalf("Holds before any publish = %v, %v; want false, nil", holds, err)
	}
	if err := a.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	if holds, err := a.Holds(ctx, "spring-1", fp); err != nil || !holds {
		t.Fatalf("Holds after a publish = %v, %v; want true, nil", holds, err)
	}
	if holds, err := a.Holds(ctx, "spring-1", "another version"); err != nil || holds {
		t.Errorf("Holds(another fingerprint) = %v, %v; want false, nil", holds, err)
	}
	if holds, _ := a.Holds(ctx, "other-sale", fp); holds {
		t.Errorf("Holds(other-sale) = true, want false")
	}
	// Without its JSON (written last) a version is not whole.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(s3reports.Key("spring-1", flashsale.FormatJSON))}); err != nil {
		t.Fatal(err)
	}
	if holds, err := a.Holds(ctx, "spring-1", fp); err != nil || holds {
		t.Errorf("Holds without report.json = %v, %v; want false, nil", holds, err)
	}
}

// sameFile compares two renders of a report: byte for byte, but a
// workbook by its cells, since excelize writes its zip's parts in no fixed
// order.
func sameFile(t *testing.T, format string, got, want []byte) bool {
	t.Helper()
	if format != flashsale.FormatXLSX {
		return bytes.Equal(got, want)
	}
	cells := func(b []byte) map[string][][]string {
		f, err := excelize.OpenReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("open workbook: %v", err)
		}
		defer f.Close()
		out := map[string][][]string{}
		for _, sheet := range f.GetSheetList() {
			rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
			out[sheet] = rows
		}
		return out
	}
	return reflect.DeepEqual(cells(got), cells(want))
}
