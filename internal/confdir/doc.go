// Package confdir finds the operator's own Stafet directory, outside any
// data directory: where stafetd keeps the keys it makes at first start
// (keys/) and the operator token in clear (admin-token), and where the
// stafet command finds them. It is $XDG_CONFIG_HOME/stafet, else
// $HOME/.config/stafet, as os.UserConfigDir has it on Linux, but read
// through a getenv function so that commands and their tests choose.
package confdir
