#!/usr/bin/perl
# queue_refused.t — a queued message whose customer server comes back
# refusing service (a 5xx greeting, smtp-sink -f CONNECT) cannot be handed
# back to its sender: the queue runner keeps it, logs the refusal as a
# deferral (dsn 4.4.1) and delivers it once the server accepts again.
# (In session, the same refusal gets the sender 451 4.7.1 and nothing is
# queued: dialogues/customer_refuses.dlg, relay_sink.t.)
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $ctl = bin('mxgatectl');
my $sport = MxSMTP::free_port();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sport\n"
    . "postmaster postmaster\@example.test\n");

sub queued_ids {
	my ($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'list');
	return $rc == 0 ? ($out =~ /^([0-9A-F]{10,}) /mg) : ();
}

# the customer is down: queued with 250
my $c = smtp_connect($mx->port);
my $r = $c->transaction(data => "Subject: refused later\r\n\r\nbody\r\n") // '';
like($r, qr/^250 2\.0\.0 Ok: queued as ([0-9A-F]+)/, 'customer down: queued with 250');
my ($id) = $r =~ /queued as ([0-9A-F]+)/;
$id //= 'none';
$c->disconnect;
is_deeply([ queued_ids() ], [ $id ], 'it is in the queue');

# it comes back refusing service
my $refusing = start_sink(port => $sport, args => [qw(-f CONNECT)]);
my ($rc) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush');
my $line = $mx->wait_log(qr/\Q$id\E: to=<alice\@example\.test>.*dsn=4\.4\.1, status=deferred \(.*refused to talk to me: 5\d\d /, 15);
ok($line, 'the runner logs the refusal as a deferral (dsn 4.4.1)') or diag $mx->log;
is_deeply([ queued_ids() ], [ $id ], 'the message stays queued');
unlike($mx->log, qr/\Q$id\E: .*status=bounced/, 'it is not bounced');
is($refusing->count, 0, 'the refusing server got nothing');
$refusing->stop;

# it accepts again: delivered, removed
my $sink = start_sink(port => $sport);
($rc) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush, the server accepting');
is($sink->wait_count(1, 30), 1, 'the message reaches the customer');
ok(MxSMTP::wait_until(10, sub { !queued_ids() }), 'the queue is empty');
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');

$mx->stop;
$sink->stop;
done_testing();
