/** Test activities for the engine probe. */
import { ApplicationFailure } from '@temporalio/activity';
import * as fs from 'node:fs';

export function createProbeActivities() {
  return {
    async probeWrite(file: string, content: string): Promise<string> {
      fs.writeFileSync(file, content);
      return content;
    },
    async probeRemove(file: string): Promise<boolean> {
      fs.rmSync(file, { force: true });
      return true;
    },
    /** Fails with a STOP class when `type` is set, else with a retryable error. */
    async probeFail(type: string, message: string): Promise<string> {
      if (type) throw ApplicationFailure.create({ type, message, nonRetryable: true });
      throw new Error(message);
    },
  };
}
