package apispec

import "fmt"

// Throttle is a token bucket: a steady rate in requests per second and a burst.
type Throttle struct {
	RateLimit  float64
	BurstLimit int
}

// UsagePlan throttles and meters each API key.
type UsagePlan struct {
	Throttle
	QuotaPerDay int
}

// Limits are the throttles of one stage. The CDK stack writes them into the
// REST API and the local gateway enforces them with the same numbers.
type Limits struct {
	// Stage applies to every method of the stage.
	Stage Throttle
	// Purchase applies to POST /sales/{saleId}/orders: the burst path.
	Purchase Throttle
	// TokenIssue applies to POST /sales/{saleId}/purchase-tokens: the rate
	// at which buyers are admitted to the sale. It is floor(Purchase / 3):
	// an admitted buyer sends a challenge, a token and an order request, so
	// buyers admitted at that rate fill the purchase method's share of the
	// stage and no more (docs/capacity.md, section 8).
	TokenIssue Throttle
	// App is the mobile app's usage plan, keyed by x-api-key.
	App UsagePlan
	// WAFRateLimit is the per-IP request count the WebACL allows in any
	// 5-minute window (AWS minimum is 10).
	WAFRateLimit int
}

// PurchaseRoute identifies the route that Limits.Purchase throttles.
const PurchaseRoute = RouteReserve

// TokenRoute identifies the route that Limits.TokenIssue throttles.
const TokenRoute = RoutePurchaseToken

// MethodThrottle returns the method-level throttle of route k, if it has
// one: the CDK stack writes it into the stage's method settings and the
// local gateway enforces it on top of the stage's.
func (l Limits) MethodThrottle(k RouteKey) (Throttle, bool) {
	switch k {
	case PurchaseRoute:
		return l.Purchase, true
	case TokenRoute:
		return l.TokenIssue, true
	}
	return Throttle{}, false
}

// Stages are the deployable stages; "dev" is also what the local stack runs.
var Stages = map[string]Limits{
	// dev sits well below the account default (10,000 rps, 5,000 burst) so a
	// developer's load test cannot starve other APIs in the account.
	"dev": {
		Stage:        Throttle{RateLimit: 2000, BurstLimit: 1000},
		Purchase:     Throttle{RateLimit: 1000, BurstLimit: 500},
		TokenIssue:   Throttle{RateLimit: 333, BurstLimit: 167},
		App:          UsagePlan{Throttle: Throttle{RateLimit: 1500, BurstLimit: 750}, QuotaPerDay: 5_000_000},
		WAFRateLimit: 2000,
	},
	// prod takes the whole regional default for the sale; see docs/capacity.md
	// for how these follow from the shard count.
	"prod": {
		Stage:        Throttle{RateLimit: 10000, BurstLimit: 5000},
		Purchase:     Throttle{RateLimit: 8000, BurstLimit: 4000},
		TokenIssue:   Throttle{RateLimit: 2666, BurstLimit: 1333},
		App:          UsagePlan{Throttle: Throttle{RateLimit: 9000, BurstLimit: 4500}, QuotaPerDay: 100_000_000},
		WAFRateLimit: 3000,
	},
}

// LimitsFor returns the limits of a stage, or an error naming the known ones.
func LimitsFor(stage string) (Limits, error) {
	l, ok := Stages[stage]
	if !ok {
		return Limits{}, fmt.Errorf("unknown stage %q (want dev or prod)", stage)
	}
	return l, nil
}
