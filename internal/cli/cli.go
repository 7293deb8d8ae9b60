// Package cli builds the cobra commands of Flotilla's binaries: configuration loading, the
// logger and the version subcommand that every one of them has.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-io/flotilla/internal/config"
	"github.com/flotilla-io/flotilla/internal/version"
)

// RunFunc is the body of a long-running command, called once its settings are loaded.
type RunFunc func(ctx context.Context, cfg *config.Config) error

// NewDaemon returns the root command of a long-running program (the hub or the spoke): it
// loads and checks the settings, sets up logging, and runs until SIGINT or SIGTERM.
func NewDaemon(program, short string, settings []config.Setting, run RunFunc) *cobra.Command {
	cfg := config.New(append(config.Common(), settings...)...)
	cmd := &cobra.Command{
		Use:           program,
		Short:         short,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Load(cmd.Flags()); err != nil {
				return err
			}
			log := NewLogger(cfg)
			ctrl.SetLogger(log)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("starting", "version", version.Version, "commit", version.Commit)
			RegisterBuildInfo(program)
			return run(logr.NewContext(ctx, log), cfg)
		},
	}
	cfg.AddFlags(cmd.Flags())
	cmd.AddCommand(NewVersionCommand(program))
	return cmd
}

// NewVersionCommand prints the build of program.
func NewVersionCommand(program string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of " + program,
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String(program))
		},
	}
}

// NewLogger builds the process logger from the log-level and log-format settings.
func NewLogger(cfg *config.Config) logr.Logger {
	level := map[string]zapcore.Level{"debug": zapcore.DebugLevel, "info": zapcore.InfoLevel, "error": zapcore.ErrorLevel}[cfg.String(config.KeyLogLevel)]
	return zap.New(zap.Level(level), zap.UseDevMode(false), zap.JSONEncoder(func(c *zapcore.EncoderConfig) {
		c.EncodeTime = zapcore.ISO8601TimeEncoder
	}), func(o *zap.Options) {
		if cfg.String(config.KeyLogFormat) == "text" {
			o.Encoder = zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
				TimeKey: "ts", LevelKey: "level", NameKey: "logger", MessageKey: "msg",
				EncodeTime: zapcore.ISO8601TimeEncoder, EncodeLevel: zapcore.CapitalLevelEncoder,
				ConsoleSeparator: " ",
			})
		}
	})
}

// Execute runs cmd and exits with 1 and the error on stderr when it fails.
func Execute(cmd *cobra.Command) {
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd.Name(), err)
		os.Exit(1)
	}
}
