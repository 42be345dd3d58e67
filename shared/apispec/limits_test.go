package apispec

import "testing"

func TestStages_ThrottlesAreConsistent(t *testing.T) {
	for stage, l := range Stages {
		t.Run(stage, func(t *testing.T) {
			for _, c := range []struct {
				name string
				th   Throttle
			}{{"stage", l.Stage}, {"purchase", l.Purchase}, {"token issue", l.TokenIssue}, {"app", l.App.Throttle}} {
				// A bucket whose burst exceeds its rate refills slower than
				// it drains; API Gateway accepts it, but it is a typo here.
				if c.th.RateLimit <= 0 || c.th.BurstLimit < 1 || float64(c.th.BurstLimit) > c.th.RateLimit {
					t.Errorf("%s throttle %+v: want 1 ≤ burst ≤ rate", c.name, c.th)
				}
				if c.th.RateLimit > l.Stage.RateLimit || c.th.BurstLimit > l.Stage.BurstLimit {
					t.Errorf("%s throttle %+v above the stage's %+v: the stage would cap it", c.name, c.th, l.Stage)
				}
			}
			if l.TokenIssue.RateLimit > l.Purchase.RateLimit {
				t.Errorf("token issue %v/s above purchase %v/s: tokens for buyers the purchase method then refuses", l.TokenIssue.RateLimit, l.Purchase.RateLimit)
			}
		})
	}
}

func TestMethodThrottle(t *testing.T) {
	l := Stages["prod"]
	tests := []struct {
		key       RouteKey
		want      Throttle
		throttled bool
	}{
		{RouteReserve, l.Purchase, true},
		{RoutePurchaseToken, l.TokenIssue, true},
		{RouteChallenge, Throttle{}, false},
		{RouteSaleInfo, Throttle{}, false},
	}
	for _, tc := range tests {
		got, ok := l.MethodThrottle(tc.key)
		if got != tc.want || ok != tc.throttled {
			t.Errorf("MethodThrottle(%s) = %+v, %v; want %+v, %v", tc.key, got, ok, tc.want, tc.throttled)
		}
		if _, found := Lookup(tc.key); !found {
			t.Errorf("%s is not in Routes", tc.key)
		}
	}
}
