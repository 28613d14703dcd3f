//! Recovery: what the driver does when a run does not end well. A timeout is a hang unless
//! the board itself is gone; a hang resets the fabric (the bitstream loaded again), brings
//! the kernel up again and retries the run once; an error path with a run in flight never
//! leaves the kernel running.

use std::time::Duration;

use super::platform::{DeviceMemory, Platform};
use super::{AccelError, Accelerator, board};

impl<P: Platform> Accelerator<P> {
    /// A timeout: a hang unless the board itself is gone.
    pub(super) fn hang(&mut self, timeout: Duration, what: &dyn std::fmt::Display) -> AccelError {
        self.gone_or(AccelError::Timeout {
            timeout,
            what: what.to_string(),
        })
    }

    /// `err`, or [`AccelError::Gone`] when the liveness check says the board went away.
    pub(super) fn gone_or(&mut self, err: AccelError) -> AccelError {
        match self.options.liveness.as_mut().map(|l| l.check()) {
            Some(Err(detail)) => AccelError::Gone {
                detail: format!("{detail} ({err})"),
            },
            _ => err,
        }
    }

    /// Resets the fabric after a hang and restores what the retry of `slot` needs.
    pub(super) fn reset_for_retry(&mut self, slot: usize, images: u32) -> Result<(), AccelError> {
        if let Some(Err(detail)) = self.options.liveness.as_mut().map(|l| l.check()) {
            return Err(AccelError::Gone { detail });
        }
        let len = images as usize * self.sizes.input;
        let input = self.buffers.inputs[slot]
            .bytes(0..len)
            .map_err(board("saving the input for the retry"))?
            .to_vec();
        self.stats.resets += 1;
        self.reload()?;
        self.buffers.inputs[slot]
            .bytes_mut(0..len)
            .map_err(board("restoring the input for the retry"))?
            .copy_from_slice(&input);
        self.bring_up()
    }

    /// Loads the bitstream again (the reset of an HLS core) and reopens the buffers, whose
    /// addresses a load may change.
    pub(super) fn reload(&mut self) -> Result<(), AccelError> {
        let _span = tracing::info_span!("accelerator_reset").entered();
        self.in_flight = None;
        self.buffers = self
            .platform
            .reload(&self.sizes, &mut self.options.liveness)?;
        Ok(())
    }

    /// After an error with a run possibly in flight: reset, so nothing is left running.
    /// A board that is gone has nothing left to reset.
    pub(super) fn abandon(&mut self) {
        if self.in_flight.take().is_none() {
            return;
        }
        if let Some(Err(_)) = self.options.liveness.as_mut().map(|l| l.check()) {
            return;
        }
        if self.reload().is_err() {
            tracing::warn!(
                "could not reset the accelerator after an error; it may still be running"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fibha_model::device::StatusCode;

    use super::super::fake::{Answer, FakeDevice, PLAN_HASH, open};
    use super::super::{AccelError, WaitMode};

    const TIMEOUT: Duration = Duration::from_millis(120);

    #[test]
    fn a_run_that_finishes_reports_its_cycles_and_nothing_to_recover() {
        let device = FakeDevice::new(PLAN_HASH, &[Answer::Done(4242)]);
        let mut accel = open(&device, WaitMode::Interrupt, TIMEOUT).unwrap();
        assert_eq!(device.identifies.get(), 1);
        accel.input_mut(1).unwrap().fill(7);
        accel.start(1, 0).unwrap();
        assert!(matches!(accel.input_mut(1), Err(AccelError::Protocol(_))));
        assert!(matches!(accel.start(0, 1), Err(AccelError::Protocol(_))));
        assert_eq!(accel.wait().unwrap().cycles, 4242);
        assert!(matches!(accel.wait(), Err(AccelError::Protocol(_))));
        assert!(accel.stats().notes().is_empty());
        assert_eq!(device.resets.get(), 0);
    }

    #[test]
    fn a_hang_resets_the_fabric_brings_the_kernel_up_again_and_retries_once() {
        let device = FakeDevice::new(PLAN_HASH, &[Answer::Hang, Answer::Done(77)]);
        let mut accel = open(&device, WaitMode::Interrupt, TIMEOUT).unwrap();
        accel.input_mut(0).unwrap().fill(3);
        accel.start(0, 5).unwrap();
        assert_eq!(accel.wait().unwrap().cycles, 77);
        assert_eq!((accel.stats().resets, accel.stats().retried_ok), (1, 1));
        assert_eq!(device.resets.get(), 1);
        assert_eq!(
            device.identifies.get(),
            2,
            "identified again after the reset"
        );
        assert_eq!(
            accel.input_mut(0).unwrap(),
            &[3; 64],
            "the input survives the reset"
        );
    }

    #[test]
    fn a_second_hang_is_a_hang_and_leaves_the_fabric_reset() {
        let device = FakeDevice::new(PLAN_HASH, &[Answer::Hang, Answer::Hang]);
        let mut accel = open(&device, WaitMode::Poll, TIMEOUT).unwrap();
        accel.start(0, 3).unwrap();
        let err = accel.wait().unwrap_err();
        assert!(
            matches!(&err, AccelError::Hang { what, .. } if what == "inference 3"),
            "{err}"
        );
        assert_eq!(
            device.resets.get(),
            2,
            "one reset for the retry, one to abandon it"
        );
        // Nothing is left in flight: the next run starts.
        accel.start(0, 4).unwrap();
        assert_eq!(accel.wait().unwrap().cycles, 1000);
    }

    #[test]
    fn a_lost_interrupt_is_recovered_by_reading_ap_done_and_the_driver_polls_from_then_on() {
        let device = FakeDevice::new(PLAN_HASH, &[Answer::LostInterrupt, Answer::Done(9)]);
        let mut accel = open(&device, WaitMode::Interrupt, Duration::from_secs(2)).unwrap();
        accel.start(0, 0).unwrap();
        let info = accel.wait().unwrap();
        assert_eq!(info.cycles, 1);
        assert!(
            info.waited < Duration::from_secs(1),
            "noticed after one slice (a tenth of the timeout), not at the 2 s timeout: {:?}",
            info.waited
        );
        let stats = accel.stats().clone();
        assert_eq!(
            (stats.lost_interrupts, stats.switched_to_polling),
            (1, true)
        );
        assert_eq!(stats.resets, 0);
        accel.start(1, 1).unwrap();
        assert_eq!(accel.wait().unwrap().cycles, 9);
        assert_eq!(accel.stats().lost_interrupts, 1, "polled, not waited on");
    }

    #[test]
    fn an_error_status_is_reported_with_its_code_and_no_reset() {
        let device = FakeDevice::new(PLAN_HASH, &[Answer::Error(StatusCode::AddressUnmapped)]);
        let mut accel = open(&device, WaitMode::Interrupt, TIMEOUT).unwrap();
        accel.start(0, 2).unwrap();
        let err = accel.wait().unwrap_err().to_string();
        assert!(
            err.starts_with("the accelerator stopped inference 2 with error address_unmapped"),
            "{err}"
        );
        assert_eq!(device.resets.get(), 0);
    }

    #[test]
    fn a_kernel_of_another_plan_is_refused_at_identify() {
        let device = FakeDevice::new(!PLAN_HASH, &[]);
        let err = open(&device, WaitMode::Interrupt, TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("checking the kernel loaded from fake.bit.bin"),
            "{err}"
        );
    }

    #[test]
    fn a_kernel_that_hangs_in_bring_up_is_reset_once_and_a_second_hang_is_a_hang() {
        let device = FakeDevice::new(PLAN_HASH, &[]);
        device.hang_bring_up.set(1);
        let accel = open(&device, WaitMode::Interrupt, TIMEOUT).unwrap();
        assert_eq!((accel.stats().resets, device.resets.get()), (1, 1));

        let device = FakeDevice::new(PLAN_HASH, &[]);
        device.hang_bring_up.set(5);
        let err = open(&device, WaitMode::Interrupt, TIMEOUT).unwrap_err();
        assert!(
            matches!(&err, AccelError::Hang { what, .. } if what == "the identify run"),
            "{err}"
        );
        assert_eq!(
            device.resets.get(),
            2,
            "reset, and left in reset after the retry"
        );
    }
}
