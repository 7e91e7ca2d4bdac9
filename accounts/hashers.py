"""How local passwords are stored."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's first recommended parameters: 19 MiB of memory, two passes,
    one lane. Memory-hard, so a stolen hash costs an attacker's GPUs what it costs us; one
    check takes about 25 ms of CPU here, a tenth of Django's default PBKDF2 (1 M
    iterations, about 244 ms), so a two-core host signs in ten times as many people a
    second. Django's own Argon2 defaults (100 MiB, eight lanes) cost nearly as much CPU as
    PBKDF2. A stored hash with other parameters, or from another hasher, is re-hashed at
    the person's next sign-in."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
