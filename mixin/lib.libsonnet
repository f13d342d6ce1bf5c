// Helpers shared by the alerts and the dashboard.
{
  // `metric{matchers}` with the configured selector; just `metric` when there is no matcher at
  // all, so the default configuration yields the plain metric name.
  metric(config, name, matchers=[])::
    local all = std.filter(function(m) m != '', [config.selector] + matchers);
    if all == [] then name else name + '{' + std.join(', ', all) + '}',

  // Folds a text block into one line (YAML `>-` style): newlines become spaces.
  oneLine(text):: std.rstripChars(std.strReplace(text, '\n', ' '), ' '),
}
