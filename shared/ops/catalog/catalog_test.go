package catalog_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"flashsale/shared/ops/catalog"
)

// problems reads path and returns its problems as "where: message" lines.
func problems(tb testing.TB, path string) []string {
	tb.Helper()
	_, err := catalog.Read(path)
	return problemsOf(tb, err)
}

func problemsOf(tb testing.TB, err error) []string {
	tb.Helper()
	var ce *catalog.Error
	if !errors.As(err, &ce) {
		tb.Fatalf("got error %v, want a *catalog.Error", err)
	}
	out := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		out[i] = p.String()
	}
	return out
}

func checkProblems(tb testing.TB, got, want []string) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("got problems\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestRead_GoodCSVAndJSONAreTheSameCatalog(t *testing.T) {
	c, err := catalog.Read("testdata/good.csv")
	if err != nil {
		t.Fatal(err)
	}
	j, err := catalog.Read("testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != catalog.CSV || j.Format != catalog.JSON {
		t.Errorf("got formats %s and %s, want csv and json", c.Format, j.Format)
	}
	if len(c.Rows) != 3 || len(j.Rows) != 3 {
		t.Fatalf("got %d CSV rows and %d JSON rows, want 3 each", len(c.Rows), len(j.Rows))
	}
	for i := range c.Rows {
		cr, jr := c.Rows[i], j.Rows[i]
		if !reflect.DeepEqual(cr.Sale, jr.Sale) || !cr.Sale.SameDefinition(jr.Sale) {
			t.Errorf("sale %d: got %+v from CSV, %+v from JSON", i, cr.Sale, jr.Sale)
		}
		var cb, jb map[string]any
		if err := json.Unmarshal(cr.Body, &cb); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(jr.Body, &jb); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cb, jb) {
			t.Errorf("body %d: got %s from CSV, %s from JSON", i, cr.Body, jr.Body)
		}
		if want := "line " + string(rune('2'+i)); cr.Where != want || cr.At != i+2 {
			t.Errorf("CSV sale %d: got %s (%d), want %s", i, cr.Where, cr.At, want)
		}
		if want := "row " + string(rune('1'+i)); jr.Where != want || jr.At != i+1 {
			t.Errorf("JSON sale %d: got %s (%d), want %s", i, jr.Where, jr.At, want)
		}
	}
	// What the rows define, after the route's defaults.
	s := c.Rows[1].Sale
	if s.Shards != 5 || s.Admission.Groups[0] != "member" || !s.Admission.PurchaseToken || s.Admission.MinAccountAgeDays != 30 {
		t.Errorf("spring-2: got shards %d, admission %+v; want 5 shards from 4000 rps and the member rule", s.Shards, s.Admission)
	}
	if a := c.Rows[2].Sale; a.Admission.PurchaseToken || a.StartsAt.Hour() != 1 || a.Name != `Tokyo "late" drop` {
		t.Errorf("tokyo-3: got %+v; want tokens off, 01:00 UTC and the quoted name", a)
	}
}

func TestRead_BadCSVNamesEveryBadLine(t *testing.T) {
	checkProblems(t, problems(t, "testdata/bad.csv"), []string{
		"line 3: saleId must be 1-64 characters of [A-Za-z0-9_-]",
		"line 4: currency must be an ISO 4217 code such as USD (sale ok-2)",
		"line 6: startsAt must be an RFC 3339 time such as 2026-12-01T10:00:00Z",
		"line 7: endsAt must be after startsAt (sale ok-4)",
		"line 8: saleId ok-1 is already on line 2; each sale once",
		"line 9: 3 cells, but the header has 9 columns",
		"line 11: priceCents must be int64",
	})
}

func TestRead_BadJSONNamesEveryBadRow(t *testing.T) {
	checkProblems(t, problems(t, "testdata/bad.json"), []string{
		"row 2: saleId must be 1-64 characters of [A-Za-z0-9_-]",
		"row 3: currency must be an ISO 4217 code such as USD (sale ok-2)",
		"row 4: startsAt must be an RFC 3339 time such as 2026-12-01T10:00:00Z",
		"row 5: endsAt must be after startsAt (sale ok-4)",
		`row 6: unknown field "colour"`,
		"row 7: saleId ok-1 is already on row 1; each sale once",
		"row 8: a sale must be a JSON object (a POST /admin/sales body)",
		"row 9: priceCents must be int64",
	})
}

func TestRead_UnknownColumnIsRefusedInTheHeader(t *testing.T) {
	// Even though line 3 leaves the cell empty: the column is wrong for
	// every line.
	checkProblems(t, problems(t, "testdata/unknown-column.csv"), []string{
		`line 1: unknown column "colour"; the header row names POST /admin/sales fields (saleId,name,priceCents,…)`,
	})
}

func TestRead_ErrorMessageListsProblemsWithTheFile(t *testing.T) {
	_, err := catalog.Read("testdata/bad.csv")
	msg := err.Error()
	if !strings.HasPrefix(msg, "testdata/bad.csv: 7 problems:\n  line 3: ") {
		t.Errorf("got %q, want it to start with the file, the count and line 3", msg)
	}
}

func TestParse_BadFiles(t *testing.T) {
	const header = "saleId,name,priceCents,currency,startsAt,endsAt,stock,perUserLimit,paymentWindowSeconds\n"
	const row = "s-1,Sale,100,USD,2027-01-01T10:00:00Z,2027-01-01T11:00:00Z,10,1,600\n"
	const obj = `{"saleId":"s-1","name":"Sale","priceCents":100,"currency":"USD","startsAt":"2027-01-01T10:00:00Z","endsAt":"2027-01-01T11:00:00Z","stock":10,"perUserLimit":1,"paymentWindowSeconds":600}`
	tests := []struct {
		name   string
		format catalog.Format
		in     string
		want   []string
	}{
		{"empty CSV", catalog.CSV, "", []string{"the file is empty: want a header row of POST /admin/sales field names (saleId,name,priceCents,…), then one sale a line"}},
		{"CSV header only", catalog.CSV, header, []string{"the catalog holds no sales"}},
		{"empty JSON", catalog.JSON, " \n", []string{"the file is empty: want a JSON array of POST /admin/sales bodies"}},
		{"empty JSON array", catalog.JSON, "[]", []string{"the catalog holds no sales"}},
		{"CSV in a .json file", catalog.JSON, header + row,
			[]string{"not a JSON array of sales (POST /admin/sales bodies): invalid character 's' looking for beginning of value (line 1)"}},
		{"JSON in a .csv file", catalog.CSV, "[" + obj + "]", []string{"this looks like JSON, not CSV; a JSON catalog's name must end in .json"}},
		{"one object, not an array", catalog.JSON, obj,
			[]string{"not a JSON array of sales (POST /admin/sales bodies): it is a single object; put the sales in [ … ]"}},
		{"broken JSON on row 2", catalog.JSON, "[\n" + obj + ",\n" + `{"saleId": "s-2",,}` + "\n]",
			[]string{"row 2: not valid JSON: invalid character ',' looking for beginning of object key string (line 3)"}},
		{"unclosed array", catalog.JSON, "[" + obj, []string{"not a JSON array of sales: the file ends early"}},
		{"data after the array", catalog.JSON, "[" + obj + "]\n[]", []string{"not a JSON array of sales: data after the closing ] (line 2)"}},
		{"broken CSV quote", catalog.CSV, header + row + `s-2,"Sale,100` + "\n",
			[]string{"line 3: not valid CSV: extraneous or missing \" in quoted-field"}},
		{"CSV without a saleId column", catalog.CSV, "name,priceCents\nSale,100\n",
			[]string{"line 1: the header row has no saleId column; the first line names POST /admin/sales fields (saleId,name,priceCents,…)"}},
		{"CSV column twice", catalog.CSV, "saleId,name,name\ns-1,a,b\n", []string{"line 1: column name appears twice (columns 2 and 3)"}},
		{"admission cell not JSON", catalog.CSV, strings.TrimSuffix(header, "\n") + ",admission\n" + strings.TrimSuffix(row, "\n") + ",{purchaseToken:false}\n",
			[]string{"line 2: admission: the cell must hold JSON, such as {\"purchaseToken\":false}: invalid character 'p' looking for beginning of object key string"}},
		{"Latin-1 CSV", catalog.CSV, header + row + "s-2,Cr\xe8me br\xfbl\xe9e,100,EUR,2027-01-01T10:00:00Z,2027-01-01T11:00:00Z,10,1,600\n",
			[]string{"line 3: not UTF-8 (byte 0xe8 at column 7); save the file as UTF-8"}},
		{"Latin-1 JSON", catalog.JSON, "[\n" + strings.Replace(obj, `"Sale"`, "\"Cr\xe8me\"", 1) + "\n]",
			[]string{"line 2: not UTF-8 (byte 0xe8 at column 27); save the file as UTF-8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := catalog.Parse(tc.format, []byte(tc.in))
			checkProblems(t, problemsOf(t, err), tc.want)
		})
	}
}

func TestParse_BOMAndBlankLinesAreFine(t *testing.T) {
	in := "\ufeffsaleId,name,priceCents,currency,startsAt,endsAt,stock,perUserLimit,paymentWindowSeconds\r\n" +
		"s-1,Sale,100,USD,2027-01-01T10:00:00Z,2027-01-01T11:00:00Z,10,1,600\r\n\r\n" +
		"s-2, Sale two ,100,USD,2027-01-01T10:00:00Z,2027-01-01T11:00:00Z, 10 ,1,600\r\n"
	c, err := catalog.Parse(catalog.CSV, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 2 || c.Rows[1].Where != "line 4" || c.Rows[1].Sale.Stock != 10 {
		t.Errorf("got %+v, want s-1 and s-2 (line 4, stock 10)", c.Rows)
	}
}

func TestFormatOf_OnlyJSONAndCSV(t *testing.T) {
	for _, name := range []string{"sales.txt", "sales.xlsx", "sales"} {
		if _, err := catalog.FormatOf(name); err == nil || !strings.Contains(err.Error(), ".json") {
			t.Errorf("FormatOf(%s): got %v, want an error naming .json and .csv", name, err)
		}
	}
	for name, want := range map[string]catalog.Format{"a.json": catalog.JSON, "B.CSV": catalog.CSV} {
		if got, err := catalog.FormatOf(name); got != want || err != nil {
			t.Errorf("FormatOf(%s): got %s, %v; want %s", name, got, err, want)
		}
	}
	if _, err := catalog.Read(filepath.Join(t.TempDir(), "sales.txt")); err == nil || !strings.Contains(err.Error(), "not .txt") {
		t.Errorf("Read of a .txt: got %v, want the extension named", err)
	}
}

func TestRead_MissingFile(t *testing.T) {
	_, err := catalog.Read(filepath.Join(t.TempDir(), "none.csv"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want not-exist", err)
	}
}

func TestDiff_NamesTheChangedFields(t *testing.T) {
	c, err := catalog.Read("testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Rows[1].Sale, c.Rows[1].Sale
	if d := catalog.Diff(a, b); len(d) != 0 {
		t.Errorf("same sale: got %v, want no difference", d)
	}
	b.PriceCents = 1999
	b.Admission.Groups = nil
	b.Admission.Allowlist = true
	checkProblems(t, catalog.Diff(a, b), []string{
		"priceCents: 2999 in the catalog, 1999 stored",
		`admission.groups: ["member"] in the catalog, none stored`,
		"admission.allowlist: false in the catalog, true stored",
	})
}
