// Package config loads the settings of a Flotilla command. Each setting can come from a
// command-line flag, a FLOTILLA_* environment variable or a YAML file, in that order of
// precedence, and otherwise takes its default. Every value is checked at start, and an error
// names the setting, where its value came from and what is accepted.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts the environment variable of every setting: the setting "log-level" is read
// from FLOTILLA_LOG_LEVEL.
const EnvPrefix = "FLOTILLA"

// FileFlag is the flag (and FLOTILLA_CONFIG the variable) that names the YAML file.
const FileFlag = "config"

// Kind is the type of a setting's value.
type Kind int

// The kinds of value a setting can hold.
const (
	String Kind = iota
	Int
	Bool
	Duration
	StringList
)

func (k Kind) String() string {
	return [...]string{"a string", "a whole number", "true or false", "a duration such as 30s or 5m", "a list of strings"}[k]
}

// Setting describes one configuration key.
type Setting struct {
	// Key is the flag name and the YAML key, in kebab-case.
	Key string
	// Kind is the type of the value.
	Kind Kind
	// Default is the value when no source sets one, written as a flag would take it.
	Default string
	// Usage says what the setting does; the flag help adds the default.
	Usage string
	// OneOf, when set, lists the accepted values.
	OneOf []string
	// Check, when set, refuses a value with a reason; it runs after the kind is checked.
	Check func(value any) error
}

// EnvVar is the environment variable that sets s.
func (s Setting) EnvVar() string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(s.Key, "-", "_"))
}

// Config holds the settings of one command once loaded.
type Config struct {
	settings []Setting
	v        *viper.Viper
	values   map[string]any
	file     string
}

// New describes a command's settings. Keys must be unique.
func New(settings ...Setting) *Config {
	keys := map[string]bool{}
	for _, s := range settings {
		if keys[s.Key] || s.Key == FileFlag {
			panic(fmt.Sprintf("config: setting %q declared twice", s.Key))
		}
		keys[s.Key] = true
	}
	return &Config{settings: settings, v: viper.New(), values: map[string]any{}}
}

// AddFlags defines a flag for every setting, plus --config.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.String(FileFlag, "", "path of a YAML file with settings; flags and "+EnvPrefix+"_* variables take precedence over it (env "+EnvPrefix+"_CONFIG)")
	for _, s := range c.settings {
		usage := fmt.Sprintf("%s (env %s)", s.Usage, s.EnvVar())
		if len(s.OneOf) > 0 {
			usage += "; one of " + strings.Join(s.OneOf, ", ")
		}
		switch s.Kind {
		case StringList:
			fs.StringSlice(s.Key, splitList(s.Default), usage)
		case Bool:
			// A bare --flag means true and does not take the next argument as its value;
			// --flag=false still works.
			v := boolText(s.Default)
			fs.VarPF(&v, s.Key, "", usage).NoOptDefVal = "true"
		default:
			// Every flag is parsed as a string so that Load reports a bad value the same way
			// whichever source it came from.
			fs.String(s.Key, s.Default, usage)
		}
	}
}

// Load reads the sources and checks every value. It returns every problem at once.
func (c *Config) Load(fs *pflag.FlagSet) error {
	c.v.SetEnvPrefix(EnvPrefix)
	c.v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	c.v.AutomaticEnv()
	file, _ := fs.GetString(FileFlag)
	if file == "" {
		file = os.Getenv(EnvPrefix + "_CONFIG")
	}
	var errs []error
	if file != "" {
		c.file = file
		c.v.SetConfigFile(file)
		c.v.SetConfigType("yaml")
		if err := c.v.ReadInConfig(); err != nil {
			return fmt.Errorf("config: reading %s: %w", file, err)
		}
		errs = append(errs, c.unknownFileKeys()...)
	}
	for _, s := range c.settings {
		if err := c.v.BindPFlag(s.Key, fs.Lookup(s.Key)); err != nil {
			return fmt.Errorf("config: %s: %w", s.Key, err)
		}
		raw := c.v.Get(s.Key)
		if f := fs.Lookup(s.Key); s.Kind == Bool && f.Changed {
			// The text as given: viper reads a flag of type bool with a cast that takes any
			// word it does not know for false.
			raw = f.Value.String()
		}
		val, err := s.parse(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w (set by %s)", s.Key, err, c.source(s, fs)))
			continue
		}
		c.values[s.Key] = val
	}
	return errors.Join(errs...)
}

func (c *Config) unknownFileKeys() []error {
	known := map[string]bool{}
	for _, s := range c.settings {
		known[s.Key] = true
	}
	var errs []error
	for _, k := range c.v.AllKeys() {
		if !known[k] && k != FileFlag && c.v.InConfig(k) {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			errs = append(errs, fmt.Errorf("config: %s: unknown key %q; known keys: %s", c.file, k, strings.Join(names, ", ")))
		}
	}
	return errs
}

// source says where the value of s came from, for error messages.
func (c *Config) source(s Setting, fs *pflag.FlagSet) string {
	switch {
	case fs.Changed(s.Key):
		return "flag --" + s.Key
	case os.Getenv(s.EnvVar()) != "":
		return "environment variable " + s.EnvVar()
	case c.file != "" && c.v.InConfig(s.Key):
		return "config file " + c.file
	default:
		return "default"
	}
}

func (s Setting) parse(raw any) (any, error) {
	var (
		val any
		err error
	)
	str := fmt.Sprint(raw)
	switch s.Kind {
	case String:
		val = str
	case Int:
		val, err = strconv.Atoi(strings.TrimSpace(str))
	case Bool:
		val, err = strconv.ParseBool(strings.TrimSpace(str))
	case Duration:
		val, err = time.ParseDuration(strings.TrimSpace(str))
	case StringList:
		switch l := raw.(type) {
		case []string:
			val = l
		case []any:
			out := make([]string, 0, len(l))
			for _, e := range l {
				out = append(out, fmt.Sprint(e))
			}
			val = out
		default:
			val = splitList(str)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%q is not %s", str, s.Kind)
	}
	if len(s.OneOf) > 0 && !slices.Contains(s.OneOf, str) {
		return nil, fmt.Errorf("%q is not one of %s", str, strings.Join(s.OneOf, ", "))
	}
	if s.Check != nil {
		if err := s.Check(val); err != nil {
			return nil, fmt.Errorf("%q: %w", str, err)
		}
	}
	return val, nil
}

// boolText is a boolean flag's value, kept as the text given so that Load checks it as it
// checks every source. Its type, bool, makes pflag's help show it as a bare --flag.
type boolText string

func (b *boolText) String() string { return string(*b) }

func (b *boolText) Set(s string) error {
	*b = boolText(s)
	return nil
}

func (b *boolText) Type() string { return "bool" }

func splitList(s string) []string {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func get[T any](c *Config, key string) T {
	v, ok := c.values[key].(T)
	if !ok {
		panic(fmt.Sprintf("config: %q is not a loaded setting of this type", key))
	}
	return v
}

// String returns a loaded string setting.
func (c *Config) String(key string) string { return get[string](c, key) }

// Int returns a loaded whole-number setting.
func (c *Config) Int(key string) int { return get[int](c, key) }

// Bool returns a loaded boolean setting.
func (c *Config) Bool(key string) bool { return get[bool](c, key) }

// Duration returns a loaded duration setting.
func (c *Config) Duration(key string) time.Duration { return get[time.Duration](c, key) }

// Strings returns a loaded list setting.
func (c *Config) Strings(key string) []string { return get[[]string](c, key) }
