#!/usr/bin/perl
# mxgatectl_audit.t — the audit trail is a hash chain: every line ends with
# prev=SHA-256 of the line before (of nothing for the first); `mxgatectl
# audit verify` passes on an untouched log and names the first line whose
# prev= no longer matches after one byte of a middle line is changed, a line
# is removed, or the last line's prev= is cut; two mxgatectl processes
# appending at once keep the chain intact (flock); `audit show` filters by
# time and person; `audit export` copies the log with its SHA-256; every
# line names the uid's account, the login behind it and the terminal.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use POSIX ();
use MxTest;

my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $log = "$dir/audit.log";
my @base = ($ctl, '-f', '/dev/null', '-a', $log);

sub ctl { my ($rc, $out, $err) = run(@base, @_); return ($rc, $out, $err) }
sub lines { split /\n/, (read_file($log) // '') }

{
	local $ENV{SUDO_USER} = 'alice';
	ctl('audit', 'show') for 1 .. 6;
}
my @l = lines();
is(scalar @l, 6, 'six operations, six audit lines');
like($l[0], qr/ prev=\Q${\ sha256_hex('')}\E$/, 'the first line chains to the hash of nothing');
my $chained = grep { $_ > 0 && $l[$_] =~ / prev=([0-9a-f]{64})$/ && $1 eq sha256_hex($l[$_ - 1]) } 0 .. $#l;
is($chained, 5, 'every other line carries the SHA-256 of the line before');
like($l[0], qr/ audit: uid=0 user=root role=root login=alice tty=\S+ op=audit-show arg=- result=ok prev=/,
    'a line names the account, the person ($SUDO_USER) and the terminal');

my ($rc, $out) = ctl('audit', 'verify');
is($rc, 0, 'audit verify: exit 0 on an untouched log');
is($out, "audit: 6 lines, chain intact\n", '... and says so');
is(scalar(lines()), 7, 'verify itself is audited');

# one byte of line 3 changed: line 4's prev= no longer matches
my $text = read_file($log);
my $orig = $text;
my $pos = index($text, "\n", index($text, "\n") + 1) + 1 + 30;	# inside line 3
substr($text, $pos, 1) = substr($text, $pos, 1) eq 'x' ? 'y' : 'x';
write_file($log, $text);
($rc, $out) = ctl('audit', 'verify');
is($rc, 1, 'one byte of line 3 changed: audit verify exits 1');
is($out, "audit: line 4: chain broken (its prev= does not match line 3)\n",
    '... and names line 4, the first whose prev= does not match');

# line 2 removed
my @o = split /\n/, $orig;
write_file($log, join("\n", @o[0, 2 .. $#o]) . "\n");
($rc, $out) = ctl('audit', 'verify');
is($rc, 1, 'line 2 removed: exit 1');
like($out, qr/^audit: line 2: chain broken/, '... named at the line that followed it');

# the last line's prev= cut short
write_file($log, join("\n", @o[0 .. $#o - 1], substr($o[-1], 0, length($o[-1]) - 10)) . "\n");
($rc, $out) = ctl('audit', 'verify');
is($rc, 1, 'the last line\'s prev= cut: exit 1');
like($out, qr/^audit: line 7: chain broken/, '... named');

# concurrent writers keep the chain
unlink $log;
my @kids;
for my $k (1 .. 2) {
	my $pid = fork // die;
	if (!$pid) {
		for (1 .. 20) {
			my $p = fork // POSIX::_exit(1);
			if (!$p) {
				open STDOUT, '>', '/dev/null'; open STDERR, '>', '/dev/null';
				exec(@base, 'audit', 'show') or POSIX::_exit(127);
			}
			waitpid($p, 0);
		}
		POSIX::_exit(0);
	}
	push @kids, $pid;
}
waitpid($_, 0) for @kids;
is(scalar(lines()), 40, 'two processes, 20 operations each: 40 lines');
($rc, $out) = ctl('audit', 'verify');
is($out, "audit: 40 lines, chain intact\n", '... and the chain is intact');

# show filters
{
	local $ENV{SUDO_USER} = 'bob';
	ctl('audit', 'show');
}
($rc, $out) = ctl('audit', 'show', '--user', 'bob');
is($rc, 0, 'audit show --user');
is(scalar(() = $out =~ /login=bob /g), 1, '... only bob\'s line');
($rc, $out) = ctl('audit', 'show', '--since', '2999-01-01T00:00:00+00:00');
is($out, '', 'audit show --since the future: nothing');
($rc, $out, my $err) = ctl('audit', 'show', '--since', 'yesterday');
is($rc, 100, 'a malformed --since is a usage error');

# export: a copy plus the SHA-256 of the copied bytes
my $before = read_file($log);
($rc, $out) = ctl('audit', 'export', "$dir/export.log");
is($rc, 0, 'audit export: exit 0');
my $exp = read_file("$dir/export.log") // '';
my ($body, $sum, $len) = $exp =~ /\A(.*)sha256 ([0-9a-f]{64})  audit\.log \((\d+) bytes\)\n\z/s;
is($body, $before, 'the export holds the log as it was');
is($sum, sha256_hex($body // ''), '... and the SHA-256 of those bytes');
is($len, length($before), '... and their length');
is((stat "$dir/export.log")[2] & 07777, 0600, 'the export is 0600');
like((lines())[-1], qr/op=audit-export arg=\Q$dir\E\/export\.log result=ok bytes=\d+ sha256=[0-9a-f]{16} prev=/,
    'the export is audited');
($rc) = ctl('audit', 'export', "$dir/export.log");
is($rc, 100, 'an existing file is never overwritten');
done_testing();
