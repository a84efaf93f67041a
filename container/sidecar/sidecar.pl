#!/usr/bin/perl
# edgerun's stand-in for the network sidecar workerd starts beside a session's container in local
# container mode (`cloudflare/proxy-everything`, on Docker Hub, which is out of reach here). Local
# use only: it is named by MINIFLARE_CONTAINER_EGRESS_IMAGE and never deployed.
#
# workerd starts it first and the session's container in its network namespace, so 127.0.0.1 here
# is the container's loopback. It passes `--http-ingress-address ADDR:PORT` (and egress settings
# this stand-in does not use) and speaks HTTP to that address:
# - `PUT /egress` (the container's egress rules) and `GET /ca` (the interception CA): answered
#   200; the stand-in intercepts no egress, the container's traffic leaves through Podman's
#   network as it is (sessions with `allow_internet: false` are cut off by the executor itself);
# - `CONNECT 127.0.0.1:PORT`: a tunnel to that port on the container's loopback, which is how
#   workerd reaches the executor; `502` while nothing listens there yet (the Worker's readiness
#   rules read that as "not ready"). Any other host is refused (403).
# workerd reaches the ingress from outside the namespace (over Podman's bridge). A connection from
# inside it (the session's own code, over loopback or the container's own address) is closed
# unanswered: its CONNECT would otherwise reach the executor's port past the firewall rules that
# close it to sandbox users (the executor's secret would still guard it).
# Written for the base image's perl-base (no modules beyond it); one process per connection.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use POSIX ();

my $MAX_HEAD = 16 * 1024;
my $MAX_BODY = 1024 * 1024;

my $ingress = '0.0.0.0:8888';
for (my $i = 0; $i < @ARGV; $i++) {
    $ingress = $ARGV[ $i + 1 ] if $ARGV[$i] eq '--http-ingress-address' && defined $ARGV[ $i + 1 ];
    $ingress = $1 if $ARGV[$i] =~ /^--http-ingress-address=(.+)$/;
}
$| = 1;
# As PID 1 no signal has a default action: SIGTERM and SIGINT end it explicitly.
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';

my $server = IO::Socket::INET->new(LocalAddr => $ingress, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
  or die "edgerun-sidecar: cannot listen on $ingress: $!\n";
print STDERR "edgerun-sidecar: listening on $ingress\n";

while (1) {
    my $client = $server->accept or next;
    my ($peer, $local) = ($client->peerhost // '', $client->sockhost // '');
    if ($peer eq $local || $peer =~ /^(127\.|::1$|::ffff:127\.)/) {
        close $client;
        next;
    }
    my $pid = fork;
    if (!defined $pid) { close $client; next; }
    if ($pid == 0) {
        close $server;
        serve($client);
        POSIX::_exit(0);
    }
    close $client;
}

sub answer {
    my ($sock, $status, $body) = @_;
    $body //= '';
    print $sock "HTTP/1.1 $status\r\ncontent-length: " . length($body) . "\r\ncontent-type: text/plain\r\n\r\n$body";
}

sub serve {
    my ($client) = @_;
    my $buf = '';
    while (1) {
        # The request head, bounded.
        while ($buf !~ /\r\n\r\n/) {
            my $n = sysread($client, $buf, 4096, length $buf);
            return if !$n;
            if (length $buf > $MAX_HEAD) { answer($client, '431 Request Header Fields Too Large'); return; }
        }
        my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        my ($line, @headers) = split /\r\n/, $head;
        my ($method, $target) = split / /, $line // '';
        my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } @headers;
        if (($method // '') eq 'CONNECT') {
            tunnel($client, $target // '', $rest);
            return;
        }
        my $len = $h{'content-length'} // 0;
        if ($len !~ /^\d+$/ || $len > $MAX_BODY) { answer($client, '413 Payload Too Large'); return; }
        while (length $rest < $len) {
            my $n = sysread($client, $rest, 65536, length $rest);
            return if !$n;
        }
        $buf = substr($rest, $len);
        my $path = ($target // '') =~ s/\?.*//r;
        if    ($method eq 'PUT' && $path eq '/egress') { answer($client, '200 OK'); }
        elsif ($method eq 'GET' && $path eq '/ca')     { answer($client, '200 OK'); }
        else                                           { answer($client, '404 Not Found', "not found\n"); }
        return if lc($h{connection} // '') eq 'close';
    }
}

sub tunnel {
    my ($client, $target, $early) = @_;
    my ($host, $port) = $target =~ /^\[?([^\]]+?)\]?:(\d+)$/ ? ($1, $2) : ('', 0);
    if (!($host eq '127.0.0.1' || $host eq 'localhost') || $port < 1 || $port > 65535) {
        answer($client, '403 Forbidden', "only the container's loopback is reachable\n");
        return;
    }
    my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
    if (!$up) { answer($client, '502 Bad Gateway', "nothing listens on port $port yet\n"); return; }
    print $client "HTTP/1.1 200 Connection Established\r\n\r\n";
    syswrite($up, $early) if length($early // '');
    # Both ways until both sides are done; one side's end is passed on as a half close.
    my %peer = ($client => $up, $up => $client);
    my $sel = IO::Select->new($client, $up);
    while ($sel->count) {
        for my $from ($sel->can_read) {
            my $to = $peer{$from};
            my $n = sysread($from, my $chunk, 65536);
            if (!$n) {
                $sel->remove($from);
                shutdown($to, 1);
                next;
            }
            my $off = 0;
            while ($off < $n) {
                my $w = syswrite($to, $chunk, $n - $off, $off);
                return if !defined $w;
                $off += $w;
            }
        }
    }
}
