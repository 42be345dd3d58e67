// Package catalog reads a catalog of sales for `flashsale sales import`: a
// .json file holding an array of POST /admin/sales bodies, or a .csv file
// whose header row names the same fields. Every row is checked exactly as
// the route checks a body (handler.ParseNewSale, then NewSale.Build), and
// every problem comes back at once, each naming its 1-based row (JSON) or
// line (CSV), so an operator fixes the file in one pass and nothing is
// written from a file with a bad row in it.
package catalog

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

// Format is a catalog's file format, named by its extension.
type Format string

const (
	JSON Format = "json"
	CSV  Format = "csv"
)

// MaxProblemsShown is how many problems Error's message lists; Problems
// holds them all.
const MaxProblemsShown = 20

// Row is one sale of a catalog.
type Row struct {
	// At is the 1-based row of a JSON array, or the 1-based line of a CSV
	// file (the header is line 1).
	At int
	// Where is "row 3" or "line 4".
	Where string
	// Body is the POST /admin/sales body to send: the JSON element as
	// written, or the object built from a CSV line's non-empty cells.
	Body json.RawMessage
	// Sale is what the route would create from Body.
	Sale flashsale.Sale
}

// Catalog is a checked catalog: at least one row, every one valid, no
// sale id twice.
type Catalog struct {
	Format Format
	Rows   []Row
}

// Problem is one thing wrong with a catalog.
type Problem struct {
	// Where is "row 3", "line 4", or "" for the file as a whole.
	Where string
	// At is the number in Where, 0 for the file as a whole.
	At      int
	Message string
}

func (p Problem) String() string {
	if p.Where == "" {
		return p.Message
	}
	return p.Where + ": " + p.Message
}

// Error lists everything wrong with a catalog, in file order.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return e.File + ": " + e.Problems[0].String()
	}
	lines := make([]string, 0, min(len(e.Problems), MaxProblemsShown)+1)
	for i, p := range e.Problems {
		if i == MaxProblemsShown {
			lines = append(lines, fmt.Sprintf("… and %d more", len(e.Problems)-MaxProblemsShown))
			break
		}
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("%s: %d problems:\n  %s", e.File, len(e.Problems), strings.Join(lines, "\n  "))
}

// Read reads and checks the catalog at path; its extension (.json or .csv)
// says its format. A catalog with any problem is an *Error listing them all.
func Read(path string) (Catalog, error) {
	format, err := FormatOf(path)
	if err != nil {
		return Catalog{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Catalog{}, err
	}
	c, err := Parse(format, b)
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// FormatOf names the format of a catalog file from its extension.
func FormatOf(path string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".json":
		return JSON, nil
	case ".csv":
		return CSV, nil
	case "":
		return "", fmt.Errorf("%s: a catalog file must end in .json (an array of POST /admin/sales bodies) or .csv (a header row of their field names)", path)
	default:
		return "", fmt.Errorf("%s: a catalog file must end in .json or .csv, not %s", path, ext)
	}
}

// Parse checks a catalog of the given format. A catalog with any problem
// is an *Error (with no File) listing them all.
func Parse(format Format, b []byte) (Catalog, error) {
	b = bytes.TrimPrefix(b, []byte("\ufeff")) // spreadsheets write a BOM
	if ps := notUTF8(b); len(ps) > 0 {
		return Catalog{}, &Error{Problems: ps}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Catalog{}, fileProblem("the file is empty: want " + want(format))
	}
	var rows []Row
	var ps []Problem
	switch format {
	case JSON:
		rows, ps = parseJSON(b)
	case CSV:
		rows, ps = parseCSV(b)
	default:
		return Catalog{}, fmt.Errorf("catalog format %q: want json or csv", format)
	}
	if len(ps) == 0 && len(rows) == 0 {
		return Catalog{}, fileProblem("the catalog holds no sales")
	}
	ps = append(ps, duplicates(rows)...)
	if len(ps) > 0 {
		sortProblems(ps)
		return Catalog{}, &Error{Problems: ps}
	}
	return Catalog{Format: format, Rows: rows}, nil
}

func want(format Format) string {
	if format == CSV {
		return "a header row of POST /admin/sales field names (saleId,name,priceCents,…), then one sale a line"
	}
	return "a JSON array of POST /admin/sales bodies"
}

func fileProblem(msg string) *Error { return &Error{Problems: []Problem{{Message: msg}}} }

// notUTF8 names each line that is not valid UTF-8.
func notUTF8(b []byte) []Problem {
	if utf8.Valid(b) {
		return nil
	}
	var ps []Problem
	for i, line := range bytes.Split(b, []byte("\n")) {
		if !utf8.Valid(line) {
			off := 0
			for off < len(line) {
				r, n := utf8.DecodeRune(line[off:])
				if r == utf8.RuneError && n <= 1 {
					break
				}
				off += n
			}
			ps = append(ps, Problem{Where: "line " + strconv.Itoa(i+1), At: i + 1,
				Message: fmt.Sprintf("not UTF-8 (byte 0x%02x at column %d); save the file as UTF-8", line[off], off+1)})
		}
	}
	return ps
}

// check validates one body as the route does and returns its row.
func check(where string, at int, body []byte) (Row, []Problem) {
	bad := func(msg string) (Row, []Problem) { return Row{}, []Problem{{Where: where, At: at, Message: msg}} }
	if len(body) > apispec.MaxBodyBytes {
		return bad(fmt.Sprintf("the sale is %d bytes of JSON; the API takes bodies of at most %d", len(body), apispec.MaxBodyBytes))
	}
	n, err := handler.ParseNewSale(body)
	if err == nil {
		var s flashsale.Sale
		if s, err = n.Build(); err == nil {
			return Row{At: at, Where: where, Body: body, Sale: s}, nil
		}
	}
	var ie *flashsale.InputError
	if errors.As(err, &ie) {
		msg := ie.Message
		if ie.Code == "invalid_json" {
			msg = "a sale must be a JSON object (a POST /admin/sales body)"
		}
		// The id when it parsed: the row is easier to find, and duplicates
		// are checked on it.
		if n.ID != "" && ie.Field != "saleId" {
			msg += " (sale " + n.ID + ")"
		}
		return Row{At: at, Where: where, Sale: flashsale.Sale{ID: n.ID}}, []Problem{{Where: where, At: at, Message: msg}}
	}
	return bad(err.Error())
}

// duplicates names every row whose sale id an earlier row already has.
func duplicates(rows []Row) []Problem {
	first := map[string]Row{}
	var ps []Problem
	for _, r := range rows {
		if !flashsale.ValidID(r.Sale.ID) {
			continue
		}
		if f, ok := first[r.Sale.ID]; ok {
			ps = append(ps, Problem{Where: r.Where, At: r.At,
				Message: fmt.Sprintf("saleId %s is already on %s; each sale once", r.Sale.ID, f.Where)})
			continue
		}
		first[r.Sale.ID] = r
	}
	return ps
}

// sortProblems puts problems in file order, the file-wide ones first.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.At, b.At) })
}

// parseJSON walks the array token by token, so each element's row is known
// and one bad element does not hide the others. Rows with problems come
// back too (without Body), for the duplicate check.
func parseJSON(b []byte) ([]Row, []Problem) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
		return nil, []Problem{{Message: "not a JSON array of sales (POST /admin/sales bodies): " + jsonWhat(b, tok, err)}}
	}
	var rows []Row
	var ps []Problem
	for i := 1; dec.More(); i++ {
		where := "row " + strconv.Itoa(i)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return rows, append(ps, Problem{Where: where, At: i, Message: "not valid JSON: " + jsonWhat(b, nil, err)})
		}
		var body bytes.Buffer
		if err := json.Compact(&body, raw); err != nil {
			return rows, append(ps, Problem{Where: where, At: i, Message: "not valid JSON: " + err.Error()})
		}
		r, p := check(where, i, body.Bytes())
		rows, ps = append(rows, r), append(ps, p...)
	}
	if _, err := dec.Token(); err != nil {
		return rows, append(ps, Problem{Message: "not a JSON array of sales: " + jsonWhat(b, nil, err)})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return rows, append(ps, Problem{Message: "not a JSON array of sales: data after the closing ]" + atLine(b, dec.InputOffset())})
	}
	return rows, ps
}

// jsonWhat says what the decoder found instead of what it wanted.
func jsonWhat(b []byte, tok json.Token, err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return se.Error() + atLine(b, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the file ends early"
	case err != nil:
		return err.Error()
	case tok == json.Delim('{'):
		return "it is a single object; put the sales in [ … ]"
	case tok == nil: // JSON null; %v would print <nil>
		return "it is null; put the sales in [ … ]"
	case reflect.TypeOf(tok).Kind() == reflect.String:
		return fmt.Sprintf("it starts with the string %q", tok)
	default:
		return fmt.Sprintf("it starts with %v", tok)
	}
}

func atLine(b []byte, off int64) string {
	off = min(max(off, 0), int64(len(b)))
	return fmt.Sprintf(" (line %d)", bytes.Count(b[:off], []byte("\n"))+1)
}

// column kinds of a CSV catalog, from handler.NewSaleJSON's fields.
const (
	kindString = iota
	kindNumber
	kindJSON
)

// columns maps each POST /admin/sales field to how a CSV cell of it
// becomes JSON. It is read from handler.NewSaleJSON, so a new field of the
// body is a new column without a change here.
var columns = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[handler.NewSaleJSON]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch f.Type.Kind() {
		case reflect.String:
			m[name] = kindString
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			m[name] = kindNumber
		default:
			m[name] = kindJSON
		}
	}
	return m
}()

// parseCSV reads the header and checks each line as the body of its
// non-empty cells.
func parseCSV(b []byte) ([]Row, []Problem) {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1 // counted here, so one short line does not stop the rest
	if t := bytes.TrimSpace(b); t[0] == '[' || t[0] == '{' {
		return nil, []Problem{{Message: "this looks like JSON, not CSV; a JSON catalog's name must end in .json"}}
	}
	header, err := cr.Read()
	if err != nil {
		return nil, []Problem{{Message: "not a CSV file: " + err.Error()}}
	}
	seen := map[string]int{}
	var ps []Problem
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case h == "":
			ps = append(ps, Problem{Where: "line 1", At: 1, Message: fmt.Sprintf("column %d has no name; the header row names POST /admin/sales fields (saleId,name,priceCents,…)", i+1)})
		case seen[h] > 0:
			ps = append(ps, Problem{Where: "line 1", At: 1, Message: fmt.Sprintf("column %s appears twice (columns %d and %d)", h, seen[h], i+1)})
		case !known(h):
			// Refused in the header, where it is, rather than on the first
			// line that fills it: a misspelt column silently left empty
			// would drop a field from every sale.
			ps = append(ps, Problem{Where: "line 1", At: 1, Message: fmt.Sprintf("unknown column %q; the header row names POST /admin/sales fields (saleId,name,priceCents,…)", h)})
		default:
			seen[h] = i + 1
		}
	}
	if _, ok := seen["saleId"]; !ok && len(ps) == 0 {
		ps = append(ps, Problem{Where: "line 1", At: 1, Message: "the header row has no saleId column; the first line names POST /admin/sales fields (saleId,name,priceCents,…)"})
	}
	if len(ps) > 0 {
		return nil, ps
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return rows, append(ps, Problem{Where: "line " + strconv.Itoa(pe.Line), At: pe.Line, Message: "not valid CSV: " + pe.Err.Error()})
		}
		if err != nil {
			return rows, append(ps, Problem{Message: "not valid CSV: " + err.Error()})
		}
		line, _ := cr.FieldPos(0)
		where := "line " + strconv.Itoa(line)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(header) {
			ps = append(ps, Problem{Where: where, At: line, Message: fmt.Sprintf("%d cells, but the header has %d columns", len(rec), len(header))})
			continue
		}
		body, p := csvBody(header, rec)
		if p != "" {
			ps = append(ps, Problem{Where: where, At: line, Message: p})
			continue
		}
		r, rp := check(where, line, body)
		rows, ps = append(rows, r), append(ps, rp...)
	}
	return rows, ps
}

func known(column string) bool {
	_, ok := columns[column]
	return ok
}

// csvBody builds the JSON object of a line's non-empty cells: numeric
// columns as numbers, admission as the JSON it holds, the rest as strings.
func csvBody(header, rec []string) ([]byte, string) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for i, cell := range rec {
		if strings.TrimSpace(cell) == "" {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		name, _ := json.Marshal(header[i])
		buf.Write(name)
		buf.WriteByte(':')
		switch columns[header[i]] {
		case kindNumber:
			v := strings.TrimSpace(cell)
			if isJSONNumber(v) {
				buf.WriteString(v)
			} else {
				s, _ := json.Marshal(v) // ParseNewSale says "must be int64"
				buf.Write(s)
			}
		case kindJSON:
			var c bytes.Buffer
			if err := json.Compact(&c, []byte(cell)); err != nil {
				return nil, fmt.Sprintf("%s: the cell must hold JSON, such as {\"purchaseToken\":false}: %v", header[i], err)
			}
			buf.Write(c.Bytes())
		default:
			s, _ := json.Marshal(cell)
			buf.Write(s)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), ""
}

// isJSONNumber reports whether s is one JSON number: valid JSON that
// starts as only a number can.
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || '0' <= s[0] && s[0] <= '9') && json.Valid([]byte(s))
}
