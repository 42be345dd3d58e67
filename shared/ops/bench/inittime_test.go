package bench_test

import (
	"context"
	"strings"
	"testing"

	"flashsale/shared/ops/bench"
)

// TestInitTime_ExitsEarly: a bootstrap that exits before asking for work
// says how it exited; a clean exit has no error, and must not print "<nil>".
func TestInitTime_ExitsEarly(t *testing.T) {
	tests := []struct {
		name, bootstrap, want string
	}{
		{"status 0", "/usr/bin/true", "exited with status 0 before asking for work"},
		{"status 1", "/usr/bin/false", "exited before asking for work: exit status 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bench.InitTime(context.Background(), tc.bootstrap, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "<nil>") {
				t.Errorf("InitTime(%s) err = %v, want one containing %q", tc.bootstrap, err, tc.want)
			}
		})
	}
}
