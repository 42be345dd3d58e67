package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"flashsale/shared/flashsale"
)

func init() {
	cmd := &cobra.Command{
		Use:   "allowlist",
		Short: "Manage a sale's allowlist on the local stack (import)",
	}
	cmd.AddCommand(newAllowlistImportCmd())
	rootCmd.AddCommand(cmd)
}

// AllowlistChunk is the most ids one POST /admin/sales/{id}/allowlist takes.
const AllowlistChunk = 1000

type allowlistOptions struct {
	state, target string
	sale, file    string
	chunk         int
}

func newAllowlistImportCmd() *cobra.Command {
	var o allowlistOptions
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import user ids into a sale's allowlist",
		Long: `import reads user ids from a file, one a line or in the first column of a CSV
(a first row whose first field is userId is a header and skipped), checks
them all, and reports every bad id with its line number before sending
anything. It then sends them to POST /admin/sales/{id}/allowlist in chunks of
at most 1,000 with an admin token, with a progress bar, and prints how many
were added and the list's total. Running it again is harmless: ids already
on the list are not added twice.

  flashsale allowlist import --sale spring-1 --file users.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAllowlistImport(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	targetFlag(f.StringVar, &o.target)
	f.StringVar(&o.sale, "sale", "", "sale id")
	f.StringVar(&o.file, "file", "", "file of user ids: one a line, or a CSV whose first column holds them")
	f.IntVar(&o.chunk, "chunk", AllowlistChunk, "ids per request (at most 1,000)")
	_ = cmd.MarkFlagRequired("sale")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func runAllowlistImport(ctx context.Context, o allowlistOptions, stdout, stderr io.Writer) error {
	if o.chunk < 1 || o.chunk > AllowlistChunk {
		return fmt.Errorf("--chunk %d: want 1 to %d", o.chunk, AllowlistChunk)
	}
	f, err := os.Open(o.file)
	if err != nil {
		return err
	}
	ids, dups, err := readUserIDs(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", o.file, err)
	}
	if len(ids) == 0 {
		return fmt.Errorf("%s holds no user ids", o.file)
	}
	api, err := openAPI(o.state, o.target)
	if err != nil {
		return err
	}
	if dups > 0 {
		fmt.Fprintf(stderr, "%d repeated ids in %s sent once\n", dups, o.file)
	}
	progress := allowlistProgress(stderr, len(ids))
	path := "/admin/sales/" + url.PathEscape(o.sale) + "/allowlist"
	var added, total int64
	for sent := 0; sent < len(ids); {
		chunk := ids[sent:min(sent+o.chunk, len(ids))]
		body, _ := json.Marshal(map[string][]string{"userIds": chunk})
		status, answer, err := api.call(ctx, http.MethodPost, path, "admin", nil, body)
		if err == nil && status != http.StatusOK {
			_, msg := apiError(answer)
			err = fmt.Errorf("the gateway answered %d %s", status, msg)
		}
		var got struct{ Added, Total int64 }
		if err == nil {
			err = json.Unmarshal(answer, &got)
		}
		if err != nil {
			progress.done()
			return fmt.Errorf("allowlist of %s, ids %d-%d of %d (the first %d are in; running again is harmless): %w",
				o.sale, sent+1, sent+len(chunk), len(ids), sent, err)
		}
		sent += len(chunk)
		added += got.Added
		total = got.Total
		progress.set(sent)
	}
	progress.done()
	_, err = fmt.Fprintf(stdout, "sale %s: %d of %d ids added (%d already there); the allowlist holds %d\n",
		o.sale, added, len(ids), int64(len(ids))-added, total)
	return err
}

// readUserIDs reads ids, one a line or in a CSV's first column, skipping
// blank lines and a first-row userId header; repeated ids are kept once
// and counted. It checks every line before returning, so all bad ids come
// back in one error, each with its 1-based line number.
func readUserIDs(r io.Reader) (ids []string, dups int, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a plain list has one field a line, a CSV more
	cr.TrimLeadingSpace = true
	seen := map[string]bool{}
	var bad []string
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err // csv errors name their line
		}
		line, _ := cr.FieldPos(0)
		id := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")) // a BOM from spreadsheets
		if row == 0 && strings.EqualFold(id, "userId") {
			continue
		}
		if id == "" && len(rec) == 1 {
			continue
		}
		if why := badUserID(id); why != "" {
			bad = append(bad, fmt.Sprintf("line %d: %q %s", line, id, why))
			continue
		}
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("… and %d more", len(bad)-20))
		}
		return nil, 0, fmt.Errorf("%d bad user ids, nothing sent:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return ids, dups, nil
}

// badUserID says what is wrong with a user id, or "" when nothing is: the
// API takes ids of 1-64 characters of [A-Za-z0-9_-] (flashsale.ValidID).
func badUserID(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > 64:
		return "is longer than 64 characters"
	case !flashsale.ValidID(id):
		return "holds a character other than A-Z, a-z, 0-9, _ and -"
	}
	return ""
}

// progress shows a bar on a terminal and a line per 10% otherwise, so a log
// file does not fill with carriage returns.
type progress struct {
	bar      *progressbar.ProgressBar
	w        io.Writer
	total    int
	lastTick int
}

func allowlistProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("ids"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) set(n int) {
	if p.bar != nil {
		_ = p.bar.Set(n)
		return
	}
	if tick := n * 10 / p.total; tick > p.lastTick || n == p.total {
		p.lastTick = tick
		fmt.Fprintf(p.w, "sent %d of %d ids\n", n, p.total)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
