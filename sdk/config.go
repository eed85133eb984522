package sdk

// Config returns the deploy-time configuration value for key
// (`sluice plugin deploy --config key=value`).
func Config(key string) (string, bool) { return configGet(key) }

// ConfigOr returns the configuration value for key, or def when unset.
func ConfigOr(key, def string) string {
	if v, ok := configGet(key); ok {
		return v
	}
	return def
}
