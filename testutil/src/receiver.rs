//! A webhook receiver on 127.0.0.1 for the tests of `[[notify]]`: it keeps every request, answers
//! as told (an HTTP status, or never), can be taken down and brought back on the same port, and
//! stops with the test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether `header` holds `sha256=<hex of HMAC-SHA256(secret, body)>`, as a receiver checks
    /// it (in constant time).
    pub fn signed_with(&self, header: &str, secret: &str) -> bool {
        use hmac::Mac;
        let Some(hex) =
            self.headers.get(&header.to_ascii_lowercase()).and_then(|v| v.strip_prefix("sha256="))
        else {
            return false;
        };
        let Some(expected) = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(&self.body);
        mac.verify_slice(&expected).is_ok()
    }
}

/// How the receiver answers: with this status, or (0) not at all.
const NEVER: u16 = 0;

pub struct Receiver {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    answer: Arc<AtomicU16>,
    /// How many of the next requests are answered 503 first.
    refusals: Arc<AtomicU16>,
    serving: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Receiver {
    /// A receiver answering 200 on a free port.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the receiver");
        let port = listener.local_addr().expect("the receiver's address").port();
        let mut receiver = Receiver {
            port,
            requests: Arc::default(),
            answer: Arc::new(AtomicU16::new(200)),
            refusals: Arc::default(),
            serving: None,
        };
        receiver.serve(listener);
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/ledger", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("the requests").clone()
    }

    /// Answers from now on with `status`.
    pub fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// Answers the next `count` requests 503 (Service Unavailable), then as before.
    pub fn refuse_next(&self, count: u16) {
        self.refusals.store(count, Ordering::SeqCst);
    }

    /// Takes requests from now on and never answers them.
    pub fn hang(&self) {
        self.answer.store(NEVER, Ordering::SeqCst);
    }

    /// Stops listening: connections are refused until [`Receiver::restart`].
    pub fn stop(&mut self) {
        if let Some((running, thread)) = self.serving.take() {
            running.store(false, Ordering::SeqCst);
            let _ = thread.join();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("binding the receiver again");
        self.serve(listener);
    }

    /// Waits (at most a minute) until `count` requests arrived.
    pub fn wait_for(&self, count: usize) {
        for _ in 0..600 {
            if self.requests().len() >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the receiver got {} request(s), not {count}", self.requests().len());
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let running = Arc::new(AtomicBool::new(true));
        let (requests, answer, refusals, still) =
            (self.requests.clone(), self.answer.clone(), self.refusals.clone(), running.clone());
        let thread = std::thread::spawn(move || {
            while still.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (requests, answer, refusals) =
                            (requests.clone(), answer.clone(), refusals.clone());
                        std::thread::spawn(move || take(stream, &requests, &answer, &refusals));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        self.serving = Some((running, thread));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request (keep-alive connections may bring more) and answers each as told.
fn take(stream: TcpStream, requests: &Mutex<Vec<Request>>, answer: &AtomicU16, refusals: &AtomicU16) {
    stream.set_nonblocking(false).expect("a blocking stream");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("a read timeout");
    let mut writer = stream.try_clone().expect("a second handle");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let Some((name, value)) = header.trim_end().split_once(':') else { break };
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.lock().expect("the requests").push(Request { path, headers, body });
        let refused =
            refusals.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok();
        let status = if refused { 503 } else { answer.load(Ordering::SeqCst) };
        if status == NEVER {
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        let reply = format!("HTTP/1.1 {status} Answer\r\nContent-Length: 2\r\n\r\nok");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
