package flashsale

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"flashsale/shared/admission"
)

// Admission is a sale's gate in front of reserve (DESIGN.md, "Admission
// (v2)"): whether a purchase needs a purchase token, how hard the challenge
// that buys one is, and who may get one.
type Admission struct {
	// PurchaseToken makes reserve require the Purchase-Token header.
	PurchaseToken bool
	// ChallengeMaxNumber is the challenge's difficulty; 0 issues tokens
	// without a challenge.
	ChallengeMaxNumber int64
	// Groups: the buyer's cognito:groups must hold one of them; empty, any.
	Groups []string
	// MinAccountAgeDays: the account (custom:created_at) must be at least
	// this old; 0, no check.
	MinAccountAgeDays int64
	// Allowlist: only users imported for the sale may buy.
	Allowlist bool
}

// Admission defaults and limits.
const (
	DefaultChallengeMaxNumber = 50_000
	MaxChallengeMaxNumber     = 100_000_000 // minutes on a phone: beyond it a sale is unbuyable
	MaxAdmissionGroups        = 20
	MaxAccountAgeDays         = 36_500
	// AdmissionTTL is how long a challenge and a purchase token stay good;
	// each may be reused until then.
	AdmissionTTL = 5 * time.Minute
	// MaxAllowlistBatch is how many user ids one allowlist call takes.
	MaxAllowlistBatch = 1000
)

// DefaultAdmission is a new sale's gate when its definition has none:
// tokens on, with the default challenge.
func DefaultAdmission() Admission {
	return Admission{PurchaseToken: true, ChallengeMaxNumber: DefaultChallengeMaxNumber}
}

// Challenge reports whether token issue needs a solved challenge.
func (a Admission) Challenge() bool { return a.PurchaseToken && a.ChallengeMaxNumber > 0 }

func (a Admission) validate() error {
	bad := func(field, msg string) error {
		return &InputError{Code: "invalid_admission", Field: "admission." + field, Message: msg}
	}
	switch {
	case a.ChallengeMaxNumber < 0 || a.ChallengeMaxNumber > MaxChallengeMaxNumber:
		return bad("challengeMaxNumber", fmt.Sprintf("admission.challengeMaxNumber must be between 0 and %d", MaxChallengeMaxNumber))
	case len(a.Groups) > MaxAdmissionGroups:
		return bad("groups", fmt.Sprintf("admission.groups holds at most %d groups", MaxAdmissionGroups))
	case a.MinAccountAgeDays < 0 || a.MinAccountAgeDays > MaxAccountAgeDays:
		return bad("minAccountAgeDays", fmt.Sprintf("admission.minAccountAgeDays must be between 0 and %d", MaxAccountAgeDays))
	case !a.PurchaseToken && (len(a.Groups) > 0 || a.MinAccountAgeDays > 0 || a.Allowlist):
		// Eligibility is checked at token issue; without tokens nothing would check it.
		return bad("purchaseToken", "eligibility rules (groups, minAccountAgeDays, allowlist) need purchaseToken: true")
	}
	for _, g := range a.Groups {
		if g == "" || len(g) > 128 {
			return bad("groups", "each of admission.groups must be 1-128 characters")
		}
	}
	return nil
}

// Buyer is the caller of a buyer route, as the authorizer's claims say.
type Buyer struct {
	UserID string
	Groups []string
	// CreatedAt is the account's creation (custom:created_at); zero when
	// the claim is missing or malformed.
	CreatedAt time.Time
}

// Solution is a solved challenge: the challenge as the client received it
// and the number it found.
type Solution struct {
	Challenge admission.Challenge
	Number    int64
}

// PurchaseToken is what token issue answers.
type PurchaseToken struct {
	Token     string
	ExpiresAt time.Time
}

// Admission errors. The eligibility reasons are the contract's.
var (
	ErrPurchaseTokenRequired = errors.New("this sale needs a Purchase-Token header: solve the challenge and get a purchase token first")
	ErrPurchaseTokenInvalid  = errors.New("the purchase token is not valid for this user and sale")
	ErrPurchaseTokenExpired  = errors.New("the purchase token expired; get a new one and resend with the same Idempotency-Key")
	ErrChallengeDisabled     = errors.New("this sale issues purchase tokens without a challenge")
	ErrNotEligible           = errors.New("not eligible for this sale")
)

// Eligibility reasons, in the order they are checked.
const (
	ReasonGroup      = "group"
	ReasonAccountAge = "account_age"
	ReasonAllowlist  = "allowlist"
)

// NotEligibleError says which rule a buyer failed; errors.Is ErrNotEligible.
type NotEligibleError struct {
	Reason  string
	Message string
}

func (e *NotEligibleError) Error() string        { return e.Message }
func (e *NotEligibleError) Is(target error) bool { return target == ErrNotEligible }

// WithAdmissionKeys sets the keys that sign challenges and purchase tokens.
// Without it a service makes a key of its own, good only inside this
// process (tests; app.New always passes the configured keys).
func WithAdmissionKeys(k *admission.Keys) Option { return func(s *Service) { s.keys = k } }

// WithChallengeGovernor sets the per-container issue rate above which the
// challenge's difficulty rises, and the ceiling it rises to (defaults
// admission.DefaultGovernorRate and DefaultGovernorCeiling).
func WithChallengeGovernor(rate float64, ceiling int64) Option {
	return func(s *Service) { s.governorRate, s.governorCeiling = rate, ceiling }
}

// Challenge issues a proof-of-work challenge to a buyer of an open sale.
// Its difficulty is the sale's, raised while this container is issuing
// challenges faster than the governor's rate.
// Errors: ErrSaleNotFound, ErrChallengeDisabled, ErrSaleNotOpen,
// ErrSaleClosed, ErrSoldOut, ErrUnavailable.
func (s *Service) Challenge(ctx context.Context, saleID string, b Buyer) (admission.Challenge, error) {
	st, now, err := s.admissionOpen(ctx, saleID)
	if err != nil {
		return admission.Challenge{}, err
	}
	if !st.Admission.Challenge() {
		return admission.Challenge{}, ErrChallengeDisabled
	}
	maxNumber := s.governor.MaxNumber(st.Admission.ChallengeMaxNumber)
	c, err := s.keys.NewChallenge(admission.Subject{UserID: b.UserID, SaleID: st.ID}, maxNumber, now.Add(AdmissionTTL))
	if err != nil {
		return admission.Challenge{}, fmt.Errorf("challenge for %s: %w", st.ID, err)
	}
	return c, nil
}

// IssuePurchaseToken gives an eligible buyer who solved the sale's
// challenge a purchase token, checking in the contract's order: the sale
// (404, 403, 410), eligibility (group, account age, allowlist), then the
// solution (400). sol may be nil when the sale has no challenge. A sale
// without tokens still issues them, so a client that always runs the flow
// works everywhere; reserve ignores them there.
// Errors: ErrSaleNotFound, ErrSaleNotOpen, ErrSaleClosed, ErrSoldOut,
// *NotEligibleError, *InputError (invalid_solution), ErrUnavailable.
func (s *Service) IssuePurchaseToken(ctx context.Context, saleID string, b Buyer, sol *Solution) (PurchaseToken, error) {
	st, now, err := s.admissionOpen(ctx, saleID)
	if err != nil {
		return PurchaseToken{}, err
	}
	if err := s.eligible(ctx, st.Sale, b, now); err != nil {
		return PurchaseToken{}, err
	}
	sub := admission.Subject{UserID: b.UserID, SaleID: st.ID}
	if st.Admission.Challenge() {
		if sol == nil {
			return PurchaseToken{}, &InputError{Code: "invalid_solution", Field: "challenge",
				Message: "this sale needs a solved challenge: send {\"challenge\":{…},\"number\":n}"}
		}
		if err := s.keys.Verify(sol.Challenge, sol.Number, sub, now); err != nil {
			var se *admission.SolutionError
			msg := err.Error()
			if errors.As(err, &se) {
				msg = se.Reason
			}
			return PurchaseToken{}, &InputError{Code: "invalid_solution", Message: msg}
		}
	}
	expires := now.Truncate(time.Second).Add(AdmissionTTL)
	return PurchaseToken{Token: s.keys.NewToken(sub, expires), ExpiresAt: expires}, nil
}

// CheckPurchaseToken is reserve's gate: nothing for a sale without tokens,
// otherwise one HMAC over the token and no store call.
// Errors: ErrPurchaseTokenRequired, ErrPurchaseTokenInvalid,
// ErrPurchaseTokenExpired.
func (s *Service) CheckPurchaseToken(st SaleState, userID, token string) error {
	if !st.Admission.PurchaseToken {
		return nil
	}
	if token == "" {
		return ErrPurchaseTokenRequired
	}
	switch err := s.keys.VerifyToken(token, admission.Subject{UserID: userID, SaleID: st.ID}, s.now()); {
	case errors.Is(err, admission.ErrTokenExpired):
		return ErrPurchaseTokenExpired
	case err != nil:
		return ErrPurchaseTokenInvalid
	}
	return nil
}

// admissionOpen reads a sale through the cache and refuses one that is not
// open, as reserve does: no store call once a container knows the sale is
// sold out.
func (s *Service) admissionOpen(ctx context.Context, saleID string) (SaleState, time.Time, error) {
	if !ValidID(saleID) {
		return SaleState{}, time.Time{}, ErrSaleNotFound
	}
	st, e, err := s.sale(ctx, saleID)
	if err != nil {
		return SaleState{}, time.Time{}, s.unavailable(err, "read sale %s", saleID)
	}
	now := s.now()
	switch st.StatusAt(now, e.soldOut()) {
	case StatusScheduled:
		return SaleState{}, time.Time{}, ErrSaleNotOpen
	case StatusClosed:
		return SaleState{}, time.Time{}, ErrSaleClosed
	case StatusSoldOut:
		return SaleState{}, time.Time{}, ErrSoldOut
	}
	return st, now, nil
}

// eligible applies the sale's rules in the contract's order: group, account
// age, allowlist. Only the allowlist reads the store.
func (s *Service) eligible(ctx context.Context, sale Sale, b Buyer, now time.Time) error {
	a := sale.Admission
	if len(a.Groups) > 0 && !slices.ContainsFunc(b.Groups, func(g string) bool { return slices.Contains(a.Groups, g) }) {
		return &NotEligibleError{Reason: ReasonGroup, Message: fmt.Sprintf("this sale is for members of %v", a.Groups)}
	}
	if a.MinAccountAgeDays > 0 {
		minAge := time.Duration(a.MinAccountAgeDays) * 24 * time.Hour
		if b.CreatedAt.IsZero() || now.Sub(b.CreatedAt) < minAge {
			return &NotEligibleError{Reason: ReasonAccountAge,
				Message: fmt.Sprintf("this sale is for accounts at least %d days old", a.MinAccountAgeDays)}
		}
	}
	if a.Allowlist {
		ok, err := s.store.Allowlisted(ctx, sale.ID, b.UserID)
		if err != nil {
			return s.unavailable(err, "read allowlist of %s", sale.ID)
		}
		if !ok {
			return &NotEligibleError{Reason: ReasonAllowlist, Message: "this sale is for invited buyers only"}
		}
	}
	return nil
}

// AllowlistResult is what an allowlist import answers.
type AllowlistResult struct {
	Added int64 `json:"added"`
	Total int64 `json:"total"`
}

// AddToAllowlist imports buyers onto a sale's allowlist. Importing the same
// ids again adds nothing.
// Errors: *InputError, ErrSaleNotFound, ErrUnavailable.
func (s *Service) AddToAllowlist(ctx context.Context, saleID string, userIDs []string) (AllowlistResult, error) {
	switch {
	case len(userIDs) == 0:
		return AllowlistResult{}, &InputError{Code: "invalid_userIds", Field: "userIds", Message: "userIds must hold at least one user id"}
	case len(userIDs) > MaxAllowlistBatch:
		return AllowlistResult{}, &InputError{Code: "invalid_userIds", Field: "userIds",
			Message: fmt.Sprintf("userIds holds at most %d ids a call", MaxAllowlistBatch)}
	}
	for i, id := range userIDs {
		if !ValidID(id) {
			return AllowlistResult{}, &InputError{Code: "invalid_userIds", Field: "userIds",
				Message: fmt.Sprintf("userIds[%d] must be 1-64 characters of [A-Za-z0-9_-]", i)}
		}
	}
	if _, err := s.LookupSale(ctx, saleID); err != nil {
		return AllowlistResult{}, err
	}
	added, total, err := s.store.AddToAllowlist(ctx, saleID, slices.Compact(slices.Sorted(slices.Values(userIDs))))
	if err != nil {
		return AllowlistResult{}, s.unavailable(err, "import allowlist of %s", saleID)
	}
	return AllowlistResult{Added: added, Total: total}, nil
}
