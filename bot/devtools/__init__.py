"""The simulated cluster, the Slack stand-in and the demo: for tests and `crashloop demo`, never in the image."""
