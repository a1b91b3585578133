#!/usr/bin/perl
# config.t — `mxgate -n -f FILE`, `-V` and usage, run as a program:
# exit codes 0 / 1 / 100 and every error printed as FILE:LINE: message.
use strict;
use warnings;
use Test::More;
use MxTest;

my $mx = bin('mxgate');
my $dir = tmpdir();

my ($rc, $out, $err) = run($mx, '-V');
is($rc, 0, '-V exits 0');
like($out, qr/^mxgate \S+\n\z/, '-V prints the version');

($rc, $out, $err) = run($mx);
is($rc, 100, 'no arguments is a usage error (100)');
like($err, qr/usage: mxgate/, 'usage text');

($rc, $out, $err) = run($mx, '-x', '-f', '/dev/null');
is($rc, 100, 'unknown flag is a usage error (100)');

my $good = write_file("$dir/good.conf", <<'CONF');
# a five-line config
hostname mx.example.test
listen 127.0.0.1:2525
route example.test 127.0.0.1:2526
max_message_size 10M
CONF
($rc, $out, $err) = run($mx, '-n', '-f', $good);
is($rc, 0, 'valid config: exit 0');
is($err, '', 'valid config: nothing on stderr');

my $bad = write_file("$dir/bad.conf", <<'CONF');
hostname mx.example.test
listen 127.0.0.1:2525
route example.test 127.0.0.1:2526
colour blue
listen 999.0.0.1:25
allow 10.0.0.1/8
max_message_size huge
queue_lifetime 3 days
CONF
($rc, $out, $err) = run($mx, '-n', '-f', $bad);
is($rc, 1, 'invalid config: exit 1');
my @lines = split /\n/, $err;
is(scalar @lines, 5, 'one line per error') or diag $err;
like($lines[0], qr/^\Q$bad\E:4: unknown directive 'colour'$/, 'unknown directive');
like($lines[1], qr/^\Q$bad\E:5: listen: bad IPv4 address/, 'bad address');
like($lines[2], qr/^\Q$bad\E:6: allow: bad CIDR.*host bits/, 'bad CIDR');
like($lines[3], qr/^\Q$bad\E:7: max_message_size: .* not a size/, 'bad size');
like($lines[4], qr/^\Q$bad\E:8: queue_lifetime: takes 1 argument/, 'bad arity');

($rc, $out, $err) = run($mx, '-n', '-f', "$dir/missing.conf");
is($rc, 1, 'missing file: exit 1');
like($err, qr/missing\.conf:0: cannot open/, 'missing file reported');

# mailboxes file errors carry the mailboxes file's own name and line
my $mb = write_file("$dir/mailboxes", "alice\@example.test\nbad%route\@example.test\n");
my $withmb = write_file("$dir/mb.conf", "listen 127.0.0.1:2525\n" .
    "route example.test 127.0.0.1:2526\nmailboxes $mb\n");
($rc, $out, $err) = run($mx, '-n', '-f', $withmb);
is($rc, 1, 'bad mailboxes file: exit 1');
like($err, qr/^\Q$mb\E:2: .*'%' routing/m, 'mailbox error names file and line');

done_testing();
