package flashsale_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

var (
	testStart = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	testEnd   = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
)

// validNewSale is a request that Build accepts; cases change one field.
func validNewSale() flashsale.NewSale {
	return flashsale.NewSale{
		ID: "spring-1", Name: "Spring drop", PriceCents: 1999, Currency: "USD",
		StartsAt: testStart, EndsAt: testEnd, Stock: 1000, PerUserLimit: 1,
		PaymentWindowSeconds: 600, Shards: 8,
	}
}

func TestNewSaleBuild_InvalidField(t *testing.T) {
	tests := []struct {
		name      string
		change    func(*flashsale.NewSale)
		wantField string
	}{
		{"empty saleId", func(n *flashsale.NewSale) { n.ID = "" }, "saleId"},
		{"saleId of 65 characters", func(n *flashsale.NewSale) { n.ID = strings.Repeat("a", 65) }, "saleId"},
		{"saleId with a space", func(n *flashsale.NewSale) { n.ID = "spring 1" }, "saleId"},
		{"saleId with a dot", func(n *flashsale.NewSale) { n.ID = "spring.1" }, "saleId"},
		{"empty name", func(n *flashsale.NewSale) { n.Name = "" }, "name"},
		{"name of 201 characters", func(n *flashsale.NewSale) { n.Name = strings.Repeat("n", 201) }, "name"},
		{"negative price", func(n *flashsale.NewSale) { n.PriceCents = -1 }, "priceCents"},
		{"lower-case currency", func(n *flashsale.NewSale) { n.Currency = "usd" }, "currency"},
		{"two-letter currency", func(n *flashsale.NewSale) { n.Currency = "US" }, "currency"},
		{"empty currency", func(n *flashsale.NewSale) { n.Currency = "" }, "currency"},
		{"missing startsAt", func(n *flashsale.NewSale) { n.StartsAt = time.Time{} }, "startsAt"},
		{"missing endsAt", func(n *flashsale.NewSale) { n.EndsAt = time.Time{} }, "endsAt"},
		{"endsAt equal to startsAt", func(n *flashsale.NewSale) { n.EndsAt = n.StartsAt }, "endsAt"},
		{"endsAt before startsAt", func(n *flashsale.NewSale) { n.EndsAt = n.StartsAt.Add(-time.Second) }, "endsAt"},
		{"zero stock", func(n *flashsale.NewSale) { n.Stock = 0 }, "stock"},
		{"negative stock", func(n *flashsale.NewSale) { n.Stock = -5 }, "stock"},
		{"stock above 10,000,000", func(n *flashsale.NewSale) { n.Stock = flashsale.MaxStock + 1 }, "stock"},
		{"zero perUserLimit", func(n *flashsale.NewSale) { n.PerUserLimit = 0 }, "perUserLimit"},
		{"zero payment window", func(n *flashsale.NewSale) { n.PaymentWindowSeconds = 0 }, "paymentWindowSeconds"},
		{"payment window above a day", func(n *flashsale.NewSale) { n.PaymentWindowSeconds = 86401 }, "paymentWindowSeconds"},
		{"shards and expectedPeakRps together", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS = 4, 3000 }, "shards"},
		{"negative shards", func(n *flashsale.NewSale) { n.Shards = -1 }, "shards"},
		{"1001 shards", func(n *flashsale.NewSale) { n.Shards = flashsale.MaxShards + 1 }, "shards"},
		{"negative expectedPeakRps", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS = 0, -1 }, "expectedPeakRps"},
		{"expectedPeakRps needing 1001 shards", func(n *flashsale.NewSale) {
			n.Shards, n.Stock, n.ExpectedPeakRPS = 0, flashsale.MaxStock, 1000*flashsale.PerShardPurchaseRPS+1
		}, "expectedPeakRps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := validNewSale()
			tc.change(&n)
			_, err := n.Build()
			var in *flashsale.InputError
			if !errors.As(err, &in) {
				t.Fatalf("Build() error = %v, want *InputError for %s", err, tc.wantField)
			}
			if in.Field != tc.wantField {
				t.Errorf("Field = %q, want %q", in.Field, tc.wantField)
			}
			if want := "invalid_" + tc.wantField; in.Code != want {
				t.Errorf("Code = %q, want %q", in.Code, want)
			}
			if in.Message == "" {
				t.Error("Message is empty, want a human explanation")
			}
		})
	}
}

func TestNewSaleBuild_Valid(t *testing.T) {
	tests := []struct {
		name       string
		change     func(*flashsale.NewSale)
		wantShards int
	}{
		{"explicit shards", func(n *flashsale.NewSale) {}, 8},
		{"neither shards nor rps gives 1", func(n *flashsale.NewSale) { n.Shards = 0 }, 1},
		{"1000 shards allowed", func(n *flashsale.NewSale) { n.Shards = flashsale.MaxShards }, 1000},
		{"rps 1 gives 1", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS = 0, 1 }, 1},
		{"rps 800 gives 1", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS = 0, 800 }, 1},
		{"rps 801 gives 2", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS = 0, 801 }, 2},
		{"rps 8000 gives 10", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS = 0, 8000 }, 10},
		{"rps for exactly 1000 shards", func(n *flashsale.NewSale) {
			n.Shards, n.ExpectedPeakRPS = 0, 1000*flashsale.PerShardPurchaseRPS
		}, 1000},
		{"shards clamped to stock", func(n *flashsale.NewSale) { n.Stock = 3 }, 3},
		{"rps-derived shards clamped to stock", func(n *flashsale.NewSale) { n.Shards, n.ExpectedPeakRPS, n.Stock = 0, 8000, 5 }, 5},
		{"free sale", func(n *flashsale.NewSale) { n.PriceCents = 0 }, 8},
		{"max stock", func(n *flashsale.NewSale) { n.Stock = flashsale.MaxStock }, 8},
		{"1 s payment window", func(n *flashsale.NewSale) { n.PaymentWindowSeconds = 1 }, 8},
		{"a day's payment window", func(n *flashsale.NewSale) { n.PaymentWindowSeconds = 86400 }, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := validNewSale()
			tc.change(&n)
			s, err := n.Build()
			if err != nil {
				t.Fatalf("Build() error = %v, want nil", err)
			}
			if s.Shards != tc.wantShards {
				t.Errorf("Shards = %d, want %d", s.Shards, tc.wantShards)
			}
			if s.ID != n.ID || s.Name != n.Name || s.PriceCents != n.PriceCents || s.Currency != n.Currency ||
				s.Stock != n.Stock || s.PerUserLimit != n.PerUserLimit {
				t.Errorf("Build() = %+v, want the request's fields %+v carried over", s, n)
			}
			if want := time.Duration(n.PaymentWindowSeconds) * time.Second; s.PaymentWindow != want {
				t.Errorf("PaymentWindow = %v, want %v", s.PaymentWindow, want)
			}
		})
	}
}

func TestNewSaleBuild_TimesInUTC(t *testing.T) {
	n := validNewSale()
	tokyo := time.FixedZone("JST", 9*3600)
	n.StartsAt, n.EndsAt = testStart.In(tokyo), testEnd.In(tokyo)
	s, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	if s.StartsAt.Location() != time.UTC || !s.StartsAt.Equal(testStart) {
		t.Errorf("StartsAt = %v, want %v in UTC", s.StartsAt, testStart)
	}
	if s.EndsAt.Location() != time.UTC || !s.EndsAt.Equal(testEnd) {
		t.Errorf("EndsAt = %v, want %v in UTC", s.EndsAt, testEnd)
	}
}

func TestShardsFor(t *testing.T) {
	tests := []struct {
		name string
		rps  int64
		want int
	}{
		{"one", 1, 1},
		{"just under a shard", 799, 1},
		{"exactly one shard", 800, 1},
		{"just over one shard", 801, 2},
		{"exactly two shards", 1600, 2},
		{"just over two shards", 1601, 3},
		{"a million", 1_000_000, 1250},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := flashsale.ShardsFor(tc.rps); got != tc.want {
				t.Errorf("ShardsFor(%d) = %d, want %d", tc.rps, got, tc.want)
			}
		})
	}
}

func TestSplitStock(t *testing.T) {
	tests := []struct {
		name   string
		units  int64
		shards int
		want   []int64 // nil: only the properties are checked
	}{
		{"remainder to the first shards", 10, 3, []int64{4, 3, 3}},
		{"even split", 8, 4, []int64{2, 2, 2, 2}},
		{"one shard", 7, 1, []int64{7}},
		{"one unit per shard", 5, 5, []int64{1, 1, 1, 1, 1}},
		{"sample sale", 1000, 8, nil},
		{"prime over many shards", 9973, 1000, nil},
		{"max stock over max shards", flashsale.MaxStock, flashsale.MaxShards, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := flashsale.SplitStock(tc.units, tc.shards)
			if len(got) != tc.shards {
				t.Fatalf("len = %d, want %d", len(got), tc.shards)
			}
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("SplitStock(%d, %d) = %v, want %v", tc.units, tc.shards, got, tc.want)
			}
			var sum int64
			for _, n := range got {
				sum += n
			}
			if sum != tc.units {
				t.Errorf("sum = %d, want %d", sum, tc.units)
			}
			if spread := slices.Max(got) - slices.Min(got); spread > 1 {
				t.Errorf("max - min = %d, want <= 1 (%v)", spread, got)
			}
		})
	}
}

func TestSaleStatusAt(t *testing.T) {
	s := flashsale.Sale{StartsAt: testStart, EndsAt: testEnd}
	tests := []struct {
		name    string
		at      time.Time
		soldOut bool
		want    flashsale.SaleStatus
	}{
		{"before start", testStart.Add(-time.Second), false, flashsale.StatusScheduled},
		{"scheduled beats sold out", testStart.Add(-time.Nanosecond), true, flashsale.StatusScheduled},
		{"exactly at start is open", testStart, false, flashsale.StatusOpen},
		{"exactly at start, sold out", testStart, true, flashsale.StatusSoldOut},
		{"running", testStart.Add(30 * time.Minute), false, flashsale.StatusOpen},
		{"running, sold out", testStart.Add(30 * time.Minute), true, flashsale.StatusSoldOut},
		{"just before end", testEnd.Add(-time.Nanosecond), false, flashsale.StatusOpen},
		{"exactly at end is closed", testEnd, false, flashsale.StatusClosed},
		{"closed beats sold out", testEnd, true, flashsale.StatusClosed},
		{"after end", testEnd.Add(time.Hour), false, flashsale.StatusClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.StatusAt(tc.at, tc.soldOut); got != tc.want {
				t.Errorf("StatusAt(%v, soldOut=%v) = %q, want %q", tc.at, tc.soldOut, got, tc.want)
			}
		})
	}
}
