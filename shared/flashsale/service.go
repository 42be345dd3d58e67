package flashsale

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"flashsale/shared/admission"
)

// Service runs the sale's use cases over a Store and an OrderQueue. One
// Service lives per process (per Lambda container) and caches each sale's
// definition, sold-out mark and empty shards for about a second.
type Service struct {
	store Store
	queue OrderQueue
	now   func() time.Time
	newID func() string
	pick  func(n int) int
	log   *slog.Logger
	// metrics receives settlement stats; nil drops them.
	metrics Metrics

	cacheTTL   time.Duration
	replayWait time.Duration
	replayPoll time.Duration
	staleAfter time.Duration
	settleWait time.Duration
	salesMu    sync.Mutex
	sales      map[string]*saleEntry
	banCache   userBanCache

	// Preparation: where schedules and reminders go (nil: nowhere).
	scheduler Scheduler
	lead      time.Duration
	notifier  Notifier
	pacing    ReminderPacing

	// archive keeps every report version as files; nil keeps only the
	// store's summaries (the accounting tests need no files).
	archive ReportArchive

	keys            *admission.Keys
	governor        *admission.Governor
	governorRate    float64
	governorCeiling int64
}

// Option configures a Service.
type Option func(*Service)

// WithClock injects the clock; every decision that depends on time uses it.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithIDs injects the order ID generator.
func WithIDs(newID func() string) Option { return func(s *Service) { s.newID = newID } }

// WithShardPicker injects the choice of the first shard to try (0 <= i < n).
func WithShardPicker(pick func(n int) int) Option { return func(s *Service) { s.pick = pick } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithCacheTTL sets how long a container trusts its cached view of a sale
// (its definition, sold-out mark and remaining units). Default 1 s.
func WithCacheTTL(d time.Duration) Option { return func(s *Service) { s.cacheTTL = d } }

// WithReplayWait bounds how long a replay waits for the first request with
// the same key to finish. Default 5 s.
func WithReplayWait(d time.Duration) Option { return func(s *Service) { s.replayWait = d } }

// WithStaleAfter sets the grace after which a pending hold or a restock in
// progress is presumed dead (its process crashed). It must exceed the
// longest request; default 2 minutes.
func WithStaleAfter(d time.Duration) Option { return func(s *Service) { s.staleAfter = d } }

// NewService builds a Service.
func NewService(store Store, queue OrderQueue, opts ...Option) *Service {
	s := &Service{
		store:      store,
		queue:      queue,
		now:        func() time.Time { return time.Now().UTC() },
		newID:      NewUniqueID,
		pick:       func(n int) int { return mathrand.IntN(n) },
		log:        slog.Default(),
		cacheTTL:   time.Second,
		replayWait: 5 * time.Second,
		replayPoll: 20 * time.Millisecond,
		staleAfter: 2 * time.Minute,
		settleWait: DefaultSettleWait,
		sales:      map[string]*saleEntry{},
		lead:       DefaultLead,
		pacing:     DefaultReminderPacing,

		governorRate:    admission.DefaultGovernorRate,
		governorCeiling: admission.DefaultGovernorCeiling,
	}
	for _, o := range opts {
		o(s)
	}
	if s.keys == nil {
		s.keys, _ = admission.NewKeys(admission.NewKeySet("process")) // a fresh key set always parses
	}
	s.governor = admission.NewGovernor(s.governorRate, s.governorCeiling, s.now)
	return s
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewUniqueID returns 26 characters: 48 bits of milliseconds, so IDs sort by
// creation time, then 80 random bits.
func NewUniqueID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return idEncoding.EncodeToString(b[:])
}
