"""Enable ommi's driver-author kit: the ommi_url and suite_db fixtures, --ommi-url."""

pytest_plugins = ["ommi.testing.plugin"]
