"""The `crashloop` command line: click commands that render outcomes; they never re-implement a flow."""
