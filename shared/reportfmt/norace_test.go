//go:build !race

package reportfmt_test

const raceEnabled = false
