package flashsale_test

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func TestOrderStatusAt(t *testing.T) {
	expires := time.Date(2026, 12, 1, 10, 10, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status flashsale.OrderStatus
		at     time.Time
		want   flashsale.OrderStatus
	}{
		{"reserved before expiry", flashsale.OrderReserved, expires.Add(-time.Minute), flashsale.OrderReserved},
		{"reserved exactly at expiry", flashsale.OrderReserved, expires, flashsale.OrderReserved},
		{"reserved just past expiry", flashsale.OrderReserved, expires.Add(time.Nanosecond), flashsale.OrderExpired},
		{"pending reads as reserved", flashsale.OrderPending, expires.Add(-time.Minute), flashsale.OrderReserved},
		{"pending past expiry", flashsale.OrderPending, expires.Add(time.Second), flashsale.OrderExpired},
		{"paid stays paid after expiry", flashsale.OrderPaid, expires.Add(time.Hour), flashsale.OrderPaid},
		{"cancelled stays cancelled", flashsale.OrderCancelled, expires.Add(time.Hour), flashsale.OrderCancelled},
		{"expired stays expired", flashsale.OrderExpired, expires.Add(-time.Minute), flashsale.OrderExpired},
		{"aborted stays aborted", flashsale.OrderAborted, expires.Add(time.Hour), flashsale.OrderAborted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := flashsale.Order{Status: tc.status, ExpiresAt: expires}
			if got := o.StatusAt(tc.at); got != tc.want {
				t.Errorf("StatusAt(%v) of a %s order = %q, want %q", tc.at, tc.status, got, tc.want)
			}
		})
	}
}

func TestFIFOGroup(t *testing.T) {
	for _, groups := range []int{1, 7, 64} {
		t.Run(fmt.Sprintf("%d groups", groups), func(t *testing.T) {
			used := map[string]bool{}
			for i := range 2000 {
				user := fmt.Sprintf("user-%d", i)
				g := flashsale.FIFOGroup(user, groups)
				if again := flashsale.FIFOGroup(user, groups); again != g {
					t.Fatalf("FIFOGroup(%q) = %q then %q, want the same", user, g, again)
				}
				n, err := strconv.Atoi(strings.TrimPrefix(g, "g"))
				if !strings.HasPrefix(g, "g") || err != nil || n < 0 || n >= groups {
					t.Fatalf("FIFOGroup(%q, %d) = %q, want g0..g%d", user, groups, g, groups-1)
				}
				used[g] = true
			}
			// 2000 users must spread over every group, or Lambda loses concurrency.
			if len(used) != groups {
				t.Errorf("2000 users used %d groups, want all %d", len(used), groups)
			}
		})
	}
}

func TestParseOrderID(t *testing.T) {
	tests := []struct {
		name     string
		orderID  string
		wantSale string // "" means ErrOrderNotFound
	}{
		{"valid", "spring-1.01jf0000000000000000000000", "spring-1"},
		{"made by NewOrderID", flashsale.NewOrderID("s_2", "abc"), "s_2"},
		{"64-char parts", strings.Repeat("s", 64) + "." + strings.Repeat("u", 64), strings.Repeat("s", 64)},
		{"no dot", "spring-1", ""},
		{"empty", "", ""},
		{"empty sale", ".abc", ""},
		{"empty unique", "spring-1.", ""},
		{"two dots", "spring-1.a.b", ""},
		{"sale with a space", "spring 1.abc", ""},
		{"sale of 65 chars", strings.Repeat("s", 65) + ".abc", ""},
		{"unique of 65 chars", "spring-1." + strings.Repeat("u", 65), ""},
		{"unique with a slash", "spring-1.a/b", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := flashsale.ParseOrderID(tc.orderID)
			if tc.wantSale == "" {
				if !errors.Is(err, flashsale.ErrOrderNotFound) {
					t.Errorf("ParseOrderID(%q) = %q, %v; want ErrOrderNotFound", tc.orderID, got, err)
				}
				return
			}
			if err != nil || got != tc.wantSale {
				t.Errorf("ParseOrderID(%q) = %q, %v; want %q, nil", tc.orderID, got, err, tc.wantSale)
			}
		})
	}
}

var uniqueIDPattern = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{26}$`)

// idMillis decodes the millisecond timestamp in the first 48 bits of an ID.
func idMillis(tb testing.TB, id string) int64 {
	tb.Helper()
	enc := base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)
	b, err := enc.DecodeString(id)
	if err != nil || len(b) != 16 {
		tb.Fatalf("decode %q: %d bytes, %v; want 16 bytes", id, len(b), err)
	}
	return int64(binary.BigEndian.Uint64(b[:8]) >> 16)
}

func TestNewUniqueID_Unique(t *testing.T) {
	seen := make(map[string]bool, 10_000)
	for range 10_000 {
		id := flashsale.NewUniqueID()
		if !uniqueIDPattern.MatchString(id) {
			t.Fatalf("NewUniqueID() = %q, want 26 characters of the Crockford base32 alphabet", id)
		}
		if seen[id] {
			t.Fatalf("NewUniqueID() returned %q twice in 10k calls", id)
		}
		seen[id] = true
	}
}

func TestNewUniqueID_SortsByTime(t *testing.T) {
	prev := flashsale.NewUniqueID()
	for range 5 {
		before := time.Now().UnixMilli()
		time.Sleep(2 * time.Millisecond)
		id := flashsale.NewUniqueID()
		after := time.Now().UnixMilli()
		if id <= prev {
			t.Errorf("NewUniqueID() = %q after %q, want it to sort later", id, prev)
		}
		if ms := idMillis(t, id); ms < before || ms > after {
			t.Errorf("timestamp of %q = %d, want within [%d, %d]", id, ms, before, after)
		}
		prev = id
	}
}
