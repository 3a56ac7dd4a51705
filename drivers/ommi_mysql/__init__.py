"""ommi's MySQL/MariaDB driver: ``mysql://user:password@host:3306/database?max_size=10``.

Built on asyncmy (``pip install 'ommi[mysql]'``); registered for the ``mysql``
and ``mariadb`` URL schemes. Tested against MariaDB (10.5 or later is needed).
"""

from ._compiler import MySQLDialect
from ._driver import MySQLDriver

__all__ = ["MySQLDialect", "MySQLDriver"]
