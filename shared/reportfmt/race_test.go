//go:build race

package reportfmt_test

// raceEnabled skips the 100,000-order measurements under -race: the
// detector makes them ten times slower and their timings meaningless.
const raceEnabled = true
