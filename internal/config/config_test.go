package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func testSettings() []Setting {
	return append(Common(),
		Setting{Key: "workers", Kind: Int, Default: "4", Usage: "workers", Check: Positive},
		Setting{Key: "resync", Kind: Duration, Default: "10m", Usage: "resync"},
		Setting{Key: "peers", Kind: StringList, Usage: "peers"},
		Setting{Key: "bootstrap", Kind: Bool, Default: "true", Usage: "bootstrap"},
	)
}

// load builds a config from flags, environment and an optional file body.
func load(t *testing.T, args []string, env map[string]string, file string) (*Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	if file != "" {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	c := New(testSettings()...)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c, c.Load(fs)
}

func TestPrecedence(t *testing.T) {
	file := "log-level: error\nworkers: 2\nresync: 1m\npeers: [a, b]\n"
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string
		level string
		works int
	}{
		{name: "defaults", level: "info", works: 4},
		{name: "file over default", file: file, level: "error", works: 2},
		{name: "env over file", file: file, env: map[string]string{"FLOTILLA_LOG_LEVEL": "debug", "FLOTILLA_WORKERS": "8"}, level: "debug", works: 8},
		{name: "flag over env", file: file, env: map[string]string{"FLOTILLA_LOG_LEVEL": "debug"}, args: []string{"--log-level=info", "--workers=3"}, level: "info", works: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(KeyLogLevel); got != tt.level {
				t.Errorf("log-level = %q, want %q", got, tt.level)
			}
			if got := c.Int("workers"); got != tt.works {
				t.Errorf("workers = %d, want %d", got, tt.works)
			}
		})
	}
}

func TestTypedValuesFromFile(t *testing.T) {
	c, err := load(t, nil, nil, "resync: 90s\npeers: [hub-0, hub-1]\nbootstrap: false\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Duration("resync"); got != 90*time.Second {
		t.Errorf("resync = %v", got)
	}
	if got := c.Strings("peers"); strings.Join(got, ",") != "hub-0,hub-1" {
		t.Errorf("peers = %v", got)
	}
	if c.Bool("bootstrap") {
		t.Error("bootstrap = true, want false from the file")
	}
}

// TestBareBoolFlagMeansTrue checks that a boolean flag works as a boolean flag does: bare
// means true without taking the next argument, and an explicit value is read and checked.
func TestBareBoolFlagMeansTrue(t *testing.T) {
	for _, tc := range []struct {
		name     string
		def      string
		args     []string
		env      map[string]string
		want     bool
		wantArgs []string
	}{
		{name: "bare flag", def: "false", args: []string{"--bootstrap"}, want: true},
		{name: "bare flag before a positional argument", def: "false", args: []string{"--bootstrap", "run", "--workers=2"},
			want: true, wantArgs: []string{"run"}},
		{name: "bare flag over the environment", def: "false", args: []string{"--bootstrap"},
			env: map[string]string{"FLOTILLA_BOOTSTRAP": "false"}, want: true},
		{name: "=false", def: "true", args: []string{"--bootstrap=false"}, want: false},
		{name: "=true", def: "false", args: []string{"--bootstrap=true"}, want: true},
		{name: "=0", def: "true", args: []string{"--bootstrap=0"}, want: false},
		{name: "not given: the default", def: "true", want: true},
		{name: "not given: the environment", def: "false", env: map[string]string{"FLOTILLA_BOOTSTRAP": "true"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := New(Setting{Key: "bootstrap", Kind: Bool, Default: tc.def, Usage: "bootstrap"},
				Setting{Key: "workers", Kind: Int, Default: "4", Usage: "workers"})
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			c.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := c.Load(fs); err != nil {
				t.Fatal(err)
			}
			if got := c.Bool("bootstrap"); got != tc.want {
				t.Errorf("bootstrap = %v, want %v", got, tc.want)
			}
			if got := fs.Args(); strings.Join(got, " ") != strings.Join(tc.wantArgs, " ") {
				t.Errorf("positional arguments %q, want %q: the flag took one as its value", got, tc.wantArgs)
			}
			if len(tc.args) > 1 && c.Int("workers") != 2 {
				t.Errorf("workers = %d, want 2: a flag after the bare one was lost", c.Int("workers"))
			}
		})
	}
}

func TestBoolFlagHelp(t *testing.T) {
	c := New(Setting{Key: "bootstrap", Kind: Bool, Default: "false", Usage: "start a new group"})
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.AddFlags(fs)
	help := fs.FlagUsages()
	for line := range strings.Lines(help) {
		// "--bootstrap   start a new group", not "--bootstrap string[="true"]   start ..."
		if f := strings.Fields(line); len(f) > 1 && f[0] == "--bootstrap" && f[1] == "start" {
			return
		}
	}
	t.Errorf("help does not show --bootstrap as a bare boolean flag:\n%s", help)
}

func TestErrorsNameTheSettingTheSourceAndTheAcceptedValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string
	}{
		{name: "enum from env", env: map[string]string{"FLOTILLA_LOG_LEVEL": "loud"},
			want: []string{`log-level: "loud" is not one of debug, info, error`, "environment variable FLOTILLA_LOG_LEVEL"}},
		{name: "int from flag", args: []string{"--workers=many"},
			want: []string{`workers: "many" is not a whole number`, "flag --workers"}},
		{name: "check from file", file: "workers: 0\n",
			want: []string{`workers: "0": must be 1 or more`, "config file"}},
		{name: "bool from flag", args: []string{"--bootstrap=maybe"},
			want: []string{`bootstrap: "maybe" is not true or false`, "flag --bootstrap"}},
		{name: "bool from env", env: map[string]string{"FLOTILLA_BOOTSTRAP": "maybe"},
			want: []string{`bootstrap: "maybe" is not true or false`, "environment variable FLOTILLA_BOOTSTRAP"}},
		{name: "duration", args: []string{"--resync=5 minutes"},
			want: []string{`resync: "5 minutes" is not a duration such as 30s or 5m`}},
		{name: "address", args: []string{"--metrics-bind-address=8080"},
			want: []string{"metrics-bind-address", "want host:port"}},
		{name: "unknown key in file", file: "log-lvl: debug\n",
			want: []string{`unknown key "log-lvl"`, "known keys:"}},
		{name: "every problem at once", args: []string{"--workers=x", "--log-format=xml"},
			want: []string{"workers:", "log-format:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.args, tt.env, tt.file)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
