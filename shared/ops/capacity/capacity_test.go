package capacity

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"flashsale/shared/apispec"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name         string
		in           Input
		shards       int
		perShard     float64
		reserved     int
		provisioned  int
		groups       int
		writerMax    int
		rampSeconds  float64
		fitsAccount  bool
		bucketNeeded int
	}{
		{name: "R=5000 S=100000", in: Input{PeakRPS: 5000, Stock: 100_000},
			shards: 7, perShard: 5000.0 / 7, reserved: 500, provisioned: 250, groups: 64, writerMax: 17,
			fitsAccount: true, bucketNeeded: 21},
		{name: "R=20000 S=50000", in: Input{PeakRPS: 20_000, Stock: 50_000},
			shards: 25, perShard: 800, reserved: 2000, provisioned: 1000, groups: 84, writerMax: 9,
			rampSeconds: 10, bucketNeeded: 77},
		{name: "R=800 is one shard", in: Input{PeakRPS: 800, Stock: 1000},
			shards: 1, perShard: 800, reserved: 80, provisioned: 40, groups: 64, writerMax: 2,
			fitsAccount: true, bucketNeeded: 4},
		{name: "R=801 needs a second shard", in: Input{PeakRPS: 801, Stock: 1000},
			shards: 2, perShard: 400.5, reserved: 81, provisioned: 41, groups: 64, writerMax: 2,
			fitsAccount: true, bucketNeeded: 4},
		{name: "slower p99 needs more concurrency", in: Input{PeakRPS: 8000, Stock: 10_000, ReserveP99: 200 * time.Millisecond},
			shards: 10, perShard: 800, reserved: 3200, provisioned: 1600, groups: 64, writerMax: 2,
			rampSeconds: 30, fitsAccount: true, bucketNeeded: 31},
		{name: "short drain target needs more writers, capped at G", in: Input{PeakRPS: 1000, Stock: 1_000_000, DrainTime: time.Second},
			shards: 2, perShard: 500, reserved: 100, provisioned: 50, groups: 64, writerMax: 64,
			fitsAccount: true, bucketNeeded: 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.in)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if p.Shards.Count != tc.shards {
				t.Errorf("shards = %d, want %d", p.Shards.Count, tc.shards)
			}
			if math.Abs(p.Shards.AttemptsPerShard-tc.perShard) > 1e-9 || p.Shards.WCUPerShard != p.Shards.AttemptsPerShard {
				t.Errorf("per shard: %v attempts, %v WCU; want %v of each (1 WCU per attempt)", p.Shards.AttemptsPerShard, p.Shards.WCUPerShard, tc.perShard)
			}
			if p.Concurrency.Reserved != tc.reserved || p.Concurrency.Provisioned != tc.provisioned {
				t.Errorf("reserved/provisioned = %d/%d, want %d/%d", p.Concurrency.Reserved, p.Concurrency.Provisioned, tc.reserved, tc.provisioned)
			}
			if p.Concurrency.RampSeconds != tc.rampSeconds {
				t.Errorf("ramp = %v s, want %v", p.Concurrency.RampSeconds, tc.rampSeconds)
			}
			if p.Queue.Groups != tc.groups || p.Queue.WriterMax != tc.writerMax {
				t.Errorf("groups/writer = %d/%d, want %d/%d", p.Queue.Groups, p.Queue.WriterMax, tc.groups, tc.writerMax)
			}
			if p.Throttles.FitsAccount != tc.fitsAccount {
				t.Errorf("fits account = %v, want %v (stage %v)", p.Throttles.FitsAccount, tc.fitsAccount, p.Throttles.Stage)
			}
			if p.Buckets.Needed != tc.bucketNeeded {
				t.Errorf("buckets needed = %d, want %d", p.Buckets.Needed, tc.bucketNeeded)
			}
			if want := float64(tc.in.Stock) / float64(tc.in.PeakRPS); p.Shards.SellOutSeconds != want {
				t.Errorf("sell-out = %v s, want S/R = %v", p.Shards.SellOutSeconds, want)
			}
			// The per-shard rate never exceeds the design's 800, nor a partition's 1,000.
			if p.Shards.WCUPerShard > ShardRPS || p.Shards.Utilisation > 1 {
				t.Errorf("shard WCU %v/s exceeds %d", p.Shards.WCUPerShard, ShardRPS)
			}
		})
	}
}

// TestNew_ProdThrottles checks the throttle formulas against the numbers the
// prod stage was built with: R = 8,000 gives exactly shared/apispec's prod.
func TestNew_ProdThrottles(t *testing.T) {
	p, err := New(Input{PeakRPS: 8000, Stock: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	prod := apispec.Stages["prod"]
	for _, c := range []struct {
		name      string
		got, want apispec.Throttle
	}{
		{"purchase", p.Throttles.Purchase, prod.Purchase},
		{"token issue", p.Throttles.TokenIssue, prod.TokenIssue},
		{"app", p.Throttles.App, prod.App.Throttle},
		{"stage", p.Throttles.Stage, prod.Stage},
	} {
		if c.got != c.want {
			t.Errorf("%s throttle = %+v, want apispec prod %+v", c.name, c.got, c.want)
		}
	}
	if !p.Throttles.FitsAccount || !p.Throttles.FitsProd {
		t.Errorf("fits account/prod = %v/%v, want true/true", p.Throttles.FitsAccount, p.Throttles.FitsProd)
	}
	// infra's prod default reserved concurrency (800) is the same Little's law.
	if p.Concurrency.Reserved != 800 {
		t.Errorf("reserved = %d, want 800 as infra's prod default", p.Concurrency.Reserved)
	}
}

// TestNew_TokenIssueEqualsApispec ties every stage's token throttle to the
// plan for that stage's purchase rate: floor(R / 3), burst half.
func TestNew_TokenIssueEqualsApispec(t *testing.T) {
	for stage, l := range apispec.Stages {
		t.Run(stage, func(t *testing.T) {
			p, err := New(Input{PeakRPS: int64(l.Purchase.RateLimit), Stock: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Throttles.TokenIssue; got != l.TokenIssue {
				t.Errorf("plan token throttle for R = %v is %+v, want apispec %s TokenIssue %+v", l.Purchase.RateLimit, got, stage, l.TokenIssue)
			}
			// Buyers admitted at the token rate fit the purchase method:
			// challenge, token and order each count on the stage.
			if got := RequestsPerBuyer * l.TokenIssue.RateLimit; got > l.Purchase.RateLimit {
				t.Errorf("3 × token rate = %v, want ≤ purchase rate %v", got, l.Purchase.RateLimit)
			}
			if float64(l.TokenIssue.BurstLimit) > l.TokenIssue.RateLimit || l.TokenIssue.BurstLimit < 1 {
				t.Errorf("token burst %d, want 1..rate %v", l.TokenIssue.BurstLimit, l.TokenIssue.RateLimit)
			}
		})
	}
}

func TestNew_Admission(t *testing.T) {
	tests := []struct {
		name        string
		in          Input
		token       apispec.Throttle
		concurrency int
		sellOut     float64
		account     int
	}{
		// busy = 6,666 × 0.015 = 99.99 → 200; 2,000 + 9 + 200 + 1 (ban sync) + 1 (warm-up) + 100.
		{"worked example", Input{PeakRPS: 20_000, Stock: 50_000}, apispec.Throttle{RateLimit: 6666, BurstLimit: 3333}, 200, 50_000.0 / 6666, 2311},
		// busy = 2,666 × 0.015 = 39.99 → 80; 800 + 9 + 80 + 1 + 1 + 100 fits 1,000.
		{"prod", Input{PeakRPS: 8000, Stock: 50_000}, apispec.Throttle{RateLimit: 2666, BurstLimit: 1333}, 80, 50_000.0 / 2666, 991},
		// The smallest rate that admits anyone: busy 0.015 → 1.
		{"R=3 admits one a second", Input{PeakRPS: 3, Stock: 10}, apispec.Throttle{RateLimit: 1, BurstLimit: 1}, 1, 10, 1 + 2 + 1 + 1 + 1 + 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			a := p.Admission
			if p.Throttles.TokenIssue != tc.token || a.BuyersPerSecond != tc.token.RateLimit {
				t.Errorf("token throttle %+v, buyers/s %v; want %+v", p.Throttles.TokenIssue, a.BuyersPerSecond, tc.token)
			}
			if a.StagePerSecond != 3*tc.token.RateLimit || a.StagePerSecond > float64(tc.in.PeakRPS) {
				t.Errorf("stage load %v, want 3 × %v ≤ R = %d", a.StagePerSecond, tc.token.RateLimit, tc.in.PeakRPS)
			}
			if a.Concurrency != tc.concurrency {
				t.Errorf("admission concurrency %d, want %d", a.Concurrency, tc.concurrency)
			}
			if math.Abs(a.SellOutSeconds-tc.sellOut) > 1e-9 {
				t.Errorf("sell-out with tokens %v s, want %v", a.SellOutSeconds, tc.sellOut)
			}
			if p.Concurrency.AccountNeeded != tc.account {
				t.Errorf("account concurrency %d, want %d", p.Concurrency.AccountNeeded, tc.account)
			}
		})
	}
}

func TestNew_AdmissionCost(t *testing.T) {
	p, err := New(Input{PeakRPS: 8000, Stock: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	// By hand: 2 × 3.50 API + 2 × 0.60 WAF + 2 × 0.20 requests
	// + 0.25 GB × (0.010 + 0.002) s × 1e6 × 0.0000133334 + 0.5 × 0.125 RRU.
	want := 7.00 + 1.20 + 0.40 + 0.25*0.012*1e6*0.0000133334 + 0.0625
	if got := p.Admission.CostPerMillionBuyers; math.Abs(got-want) > 1e-9 {
		t.Errorf("admission cost = $%.6f per million buyers, want $%.6f", got, want)
	}
}

func TestAdmissionMemory_EqualsApispec(t *testing.T) {
	f, err := apispec.FunctionNamed(apispec.FunctionAdmission)
	if err != nil {
		t.Fatal(err)
	}
	if f.MemoryMB != AdmissionMemoryMB {
		t.Errorf("AdmissionMemoryMB = %d, apispec's admission function has %d MB", AdmissionMemoryMB, f.MemoryMB)
	}
}

func TestNew_Binding(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want []string // substrings, one per expected binding line
	}{
		{"small sale binds nothing", Input{PeakRPS: 200, Stock: 1000}, nil},
		{"20k/s binds the account throttle, concurrency and table, not the order buckets", Input{PeakRPS: 20_000, Stock: 50_000},
			[]string{"API Gateway account throttle", "apispec prod", "Lambda concurrency", "Lambda scaling", "DynamoDB table throughput"}},
		{"more shards than units", Input{PeakRPS: 4000, Stock: 3}, []string{"stock 3 < 5 shards"}},
		{"over a thousand shards", Input{PeakRPS: 1_000_000, Stock: 10_000_000}, []string{"shards: 1250 needed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(p.Binding, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("binding lines do not mention %q:\n%s", w, all)
				}
			}
			if len(tc.want) == 0 && len(p.Binding) != 0 {
				t.Errorf("binding = %q, want none", p.Binding)
			}
			if strings.Contains(all, "order buckets") || p.Buckets.WCUPerBucket > PartitionWCU {
				t.Errorf("order buckets take %.0f WCU/s each with %d buckets, want under %d", p.Buckets.WCUPerBucket, p.Buckets.Count, PartitionWCU)
			}
		})
	}
}

func TestNew_RejectsBadInput(t *testing.T) {
	for _, in := range []Input{{PeakRPS: 0, Stock: 1}, {PeakRPS: 1, Stock: 0}, {PeakRPS: 1, Stock: 1, ReserveP99: -time.Second}} {
		if _, err := New(in); err == nil {
			t.Errorf("New(%+v) = nil error, want one", in)
		}
	}
}

func TestCost(t *testing.T) {
	p, err := New(Input{PeakRPS: 20_000, Stock: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Cost
	if c.Accepted.Usage.WRU != 9 {
		t.Errorf("WRU per accepted purchase = %v, want 9 (6 txn + 1 shard + 1 accept + 1 writer)", c.Accepted.Usage.WRU)
	}
	if c.Rejected.Usage.WRU != 0 || c.Rejected.Usage.SQSRequests != 0 {
		t.Errorf("rejected after sell-out uses %v WRU and %v SQS requests, want 0 and 0", c.Rejected.Usage.WRU, c.Rejected.Usage.SQSRequests)
	}
	// By hand with the stated prices, per million:
	// accepted: 3.50 API + 0.60 WAF + 1.1×0.20 + (0.5 GB×0.040 s + 0.25 GB×0.100 s/10)×1e6×0.0000133334
	//           + 9×0.625 + 1.2×0.50
	lambdaAccepted := 1.1*0.20 + (0.5*0.040+0.25*0.100/10)*1e6*0.0000133334
	acceptedWant := 3.50 + 0.60 + lambdaAccepted + 9*0.625 + 1.2*0.50
	rejectedWant := 3.50 + 0.60 + 0.20 + 0.5*0.002*1e6*0.0000133334
	blendedWant := 0.05*acceptedWant + 0.95*rejectedWant
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"accepted lambda", c.Accepted.Lambda, lambdaAccepted},
		{"accepted total", c.Accepted.Total, acceptedWant},
		{"rejected total", c.Rejected.Total, rejectedWant},
		{"blended (50,000 of a million accepted)", c.Blended, blendedWant},
		{"provisioned per hour (1,000 × 0.5 GB)", c.ProvisionedPerHour, 1000 * 0.5 * 3600 * 0.0000033334},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = $%.6f, want $%.6f", c.name, c.got, c.want)
		}
	}
	if c.BlendedAccepted != 50_000 {
		t.Errorf("blended accepted = %d, want 50,000 (the stock)", c.BlendedAccepted)
	}
}

func TestWriteText(t *testing.T) {
	p, err := New(Input{PeakRPS: 5000, Stock: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"N = ceil(R / 800) = ceil(5,000 / 800) = 7 shards",
		"busy = R × p99 = 5,000 × 0.050 s = 250 environments",
		"as of " + DefaultPrices.AsOf + "; verify before relying",
		"-c reservedConcurrency=500",
		"token issue rate T = floor(R / 3) = 1,666 buyers/s admitted; burst 833",
		"\"shards\": 7",
		// The warm-up provisions for the sale's 7 shards (5,600/s), not R.
		"provisioned concurrency by ceil(N × 800 × 50ms) = 280",
		"280 × 512 MB = $1.68 per hour, for lead + duration = 10 min + 60 min = 70 min → $1.96 per sale",
		"each sale's warm-up adds its 280",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q", want)
		}
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"zero", 0, "0"},
		{"hundreds", 800, "800"},
		{"thousands", 20000, "20,000"},
		{"millions", 1234567, "1,234,567"},
		{"fraction", 714.2857, "714.3"},
		{"negative", -1500, "-1,500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := num(tc.in); got != tc.want {
				t.Errorf("num(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestNew_PerIP: the per-IP rule at the planned peak (issue 16, point 10),
// for prod's default and a chosen limit, and WAF's minimum of 10.
func TestNew_PerIP(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want PerIP
	}{
		{name: "prod default", in: Input{PeakRPS: 8000, Stock: 50_000},
			want: PerIP{Limit: 3000, PerSecond: 10, BuyersOnce: 1000, BuyersBusy: 300, PeakShare: 10.0 / 8000}},
		{name: "chosen limit", in: Input{PeakRPS: 2000, Stock: 1000, WAFRateLimit: 600},
			want: PerIP{Limit: 600, PerSecond: 2, BuyersOnce: 200, BuyersBusy: 60, PeakShare: 2.0 / 2000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.PerIP != tc.want {
				t.Errorf("got %+v, want %+v", p.PerIP, tc.want)
			}
		})
	}
	if apispec.Stages["prod"].WAFRateLimit != 3000 {
		t.Fatalf("apispec prod WAFRateLimit is %d; update the prod default case", apispec.Stages["prod"].WAFRateLimit)
	}
	if _, err := New(Input{PeakRPS: 1, Stock: 1, WAFRateLimit: 9}); err == nil {
		t.Error("got no error for a WAF rate limit of 9, want one (WAF's minimum is 10)")
	}
	p, err := New(Input{PeakRPS: 8000, Stock: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"L = 3,000 per 5 min (-c wafRateLimit; prod default 3,000) = 10/s per address",
		"floor(L / 3) = 1,000 buyers can each send challenge + token + order, or floor(L / 10) = 300 buyers",
		"= 1 in 800 of the requests",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan text lacks %q", want)
		}
	}
}
