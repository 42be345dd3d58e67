package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"flashsale/shared/app"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/testenv"
)

// TestNew_ReportArchiveFromReportsBucket: app.New builds the S3 archive
// when the settings name a reports bucket (REPORTS_BUCKET), so a settled
// report's files can be opened; without one, they cannot.
func TestNew_ReportArchiveFromReportsBucket(t *testing.T) {
	env := testenv.Require(t)
	tests := []struct {
		name    string
		bucket  string
		wantErr error
	}{
		{"bucket set", env.Settings.ReportsBucket, nil},
		{"no bucket", "", flashsale.ErrNoArchive},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			s := env.Settings
			s.ReportsBucket = tc.bucket
			a, err := app.New(ctx, s, app.Options{WebhookSecret: "whsec_test", AdmissionKeys: testKeys,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			id := []string{"arch-a", "arch-b"}[i]
			now := time.Now().UTC()
			if _, err := a.Service.CreateSale(ctx, flashsale.NewSale{ID: id, Name: "Archive", PriceCents: 100, Currency: "USD",
				StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), Stock: 5, PerUserLimit: 1,
				PaymentWindowSeconds: 600, Shards: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Service.Settle(ctx, id); err != nil {
				t.Fatal(err)
			}
			f, err := a.Service.ReportFile(ctx, id, flashsale.FormatCSV)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ReportFile: got %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				defer f.Body.Close()
				if b, _ := io.ReadAll(f.Body); len(b) == 0 || int64(len(b)) != f.Size {
					t.Errorf("CSV file of %d bytes (size %d), want the report", len(b), f.Size)
				}
			}
		})
	}
}
